"""Issue 11, item 7 for `paramsched preview` and `paramsched compare`: a user mistake is one line on
stderr and exit code 2, never a traceback; `--steps 10**20` is answered, not run until killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paramsched.cli import main
from paramsched.cli.preview import MAX_STEPS, parse_steps

from .conftest import write_family

BIN = Path(sys.executable).parent / "paramsched"
SPEC = '{"type": "WarmupStableDecay", "peak": 1.0, "warmup": 0.1, "decay": 0.2}'


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("paramsched: error: "), err
    return lines[0][len("paramsched: error: "):]


@pytest.mark.parametrize(("text", "steps"), [
    ("1000", 1000), ("1_000_000", 10**6), ("10**20", 10**20), ("2 ** 53", 2**53), ("1e9", 10**9), ("2.5e3", 2500),
])
def test_steps_are_written_as_people_write_them(text: str, steps: int) -> None:
    assert parse_steps(text) == steps


def test_the_issue_reproduction_is_refused_in_one_line_by_the_real_command(tmp_path: Path) -> None:
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "paramsched"]
    result = subprocess.run([*command, "preview", SPEC, "--steps", "10**20"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"paramsched: error: --steps must be at most {MAX_STEPS} (2**53: beyond it steps are not exact as floats), "
        f"got --steps {10**20}\n"
    )


@pytest.mark.parametrize(("text", "expected"), [
    ("abc", "--steps must be a whole number of steps such as 1000, 10**9 or 1e9, got --steps abc"),
    ("1.5e0", "--steps must be a whole number of steps such as 1000, 10**9 or 1e9, got --steps 1.5e0"),
    ("9" * 5000, "--steps must be a whole number of steps such as 1000, 10**9 or 1e9, got --steps " + "9" * 37 + "..."),
    ("0", "--steps must be an int >= 1, got --steps 0"),
    ("2**53+1", "--steps must be a whole number of steps such as 1000, 10**9 or 1e9, got --steps 2**53+1"),
])
def test_bad_steps_are_one_line(text: str, expected: str, capsys) -> None:
    assert main(["preview", SPEC, "--steps", text]) == 2
    assert error_line(capsys) == expected


def test_preview_refuses_an_unknown_extension_before_evaluating(tmp_path: Path, capsys) -> None:
    assert main(["preview", SPEC, "--steps", "100", "-o", str(tmp_path / "out.pdf")]) == 2
    assert error_line(capsys) == f"-o must end in .png or .html, got -o {tmp_path / 'out.pdf'}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.pdf", "out.svg", "out", "out.html.bak", "out.PDF"])
def test_compare_refuses_unknown_extensions(name: str, tmp_path: Path, capsys) -> None:
    runs = [str(p) for p in write_family(tmp_path / "fam", total=40, branch_steps=(20,), cooldown=10).values()]
    assert main(["compare", *runs, "-o", str(tmp_path / name)]) == 2
    assert error_line(capsys) == f"-o must be a file name ending in .html or .htm or .png, got -o {tmp_path / name}"
    assert not (tmp_path / name).exists()
    assert main(["compare", *runs, "-o", str(tmp_path / "OUT.HTML"), "-q"]) == 0  # case does not matter


def test_compare_mistakes_are_one_line(tmp_path: Path, capsys) -> None:
    runs = [str(p) for p in write_family(tmp_path / "fam", total=40, branch_steps=(20,), cooldown=10).values()]
    out = str(tmp_path / "c.html")
    assert main(["compare", str(tmp_path / "missing"), "-o", out]) == 2
    assert str(tmp_path / "missing") in error_line(capsys)
    assert main(["compare", *runs, "-o", out, "--reference", "nobody"]) == 2
    assert error_line(capsys).startswith("reference must be one of the run names ['parent', 'branch-20'], got reference='nobody'")
    assert main(["compare", *runs, "-o", out, "--metric", "val_loss"]) == 2
    assert error_line(capsys) == "metrics: no run logged a metric named 'val_loss'; the runs logged: parent: loss; branch-20: loss"


@pytest.mark.parametrize(("argv", "expected"), [
    (["compare", "a", "-o", "x.html", "--by", "epoch"],
     "paramsched compare: error: argument --by: invalid choice: 'epoch' (choose from 'step', 'fraction') "
     "(see paramsched compare --help)"),
    (["compare", "a"], "paramsched compare: error: the following arguments are required: -o/--out "
     "(see paramsched compare --help)"),
    (["preview", SPEC], "paramsched preview: error: the following arguments are required: --steps "
     "(see paramsched preview --help)"),
])
def test_argparse_mistakes_are_one_line_too(argv: list[str], expected: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == expected + "\n"
