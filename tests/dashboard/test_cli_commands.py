"""`paramsched compare` and `paramsched preview`: notes, metrics, lineage, and user mistakes.

A user mistake exits 2 with one line ``paramsched: error: ...`` and no
traceback; notes go to stderr and keep exit code 0. Most checks call
``main()`` in-process (fast); the log-runs-code reproduction runs the real
command, with the victim file as its stdin, exactly as the issue tried it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.cli import main
from paramsched.cli.preview import EVERY_STEP_UP_TO, MAX_STEPS, preview_frame

from .conftest import write_family

BIN = Path(sys.executable).parent / "paramsched"
EVIL_META = {"format": "paramsched.run/1", "total_steps": 511, "groups": [], "series": ["hp/lr/g0"],
             "schedules": {"lr": {"type": "FunctionSchedule", "fn": "os:chmod"}}}


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("paramsched: error: "), err
    return lines[0][len("paramsched: error: "):]


def evil_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "values.csv").write_text("step,hp/lr/g0\n0,0.001\n")
    (folder / "run.json").write_text(json.dumps(EVIL_META))
    return folder


@pytest.mark.slow
def test_a_log_naming_a_function_runs_nothing(tmp_path: Path) -> None:
    # issue 11 item 1, as reported: os:chmod(0, 511) on stdin would make the victim 777
    evil_run(tmp_path / "evil")
    victim = tmp_path / "victim"
    victim.touch()
    victim.chmod(0o600)
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "paramsched"]
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"} | {"PYTHONWARNINGS": "ignore"}
    with open(victim, "rb") as stdin:
        result = subprocess.run([*command, "compare", "evil", "-o", "e.html"], cwd=tmp_path, stdin=stdin,
                                env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert result.stdout == "wrote e.html\n"
    note = ("note: evil: planned curve of hp/lr/g0 unavailable (function schedule 'os:chmod'; "
            "pass trust_functions=True to rebuild)")
    lines = result.stderr.splitlines()
    assert note in lines and all(line.startswith("note: ") for line in lines)
    assert "--trust-function MODULE:NAME" in lines[-1]
    page = (tmp_path / "e.html").read_text(encoding="utf-8")
    assert "<li>evil: planned curve of hp/lr/g0 unavailable (function schedule &#x27;os:chmod&#x27;; pass" in page


def test_compare_refuses_unknown_extensions_before_loading(tmp_path: Path, capsys) -> None:
    evil_run(tmp_path / "run")
    assert main(["compare", str(tmp_path / "run"), "-o", str(tmp_path / "out.pdf")]) == 2
    assert error_line(capsys) == f"-o must be a file name ending in .html or .htm or .png, got -o {tmp_path / 'out.pdf'}"
    assert main(["compare", str(tmp_path / "run"), "-o", str(tmp_path / "c.html"), "--png", str(tmp_path / "c.jpg")]) == 2
    assert error_line(capsys).startswith("--png must be a file name ending in .png, got --png ")
    assert main(["compare", str(tmp_path / "nothing"), "-o", str(tmp_path / "c.html"), "--max-points", "2"]) == 2
    assert error_line(capsys) == "--max-points must be an int >= 4, got --max-points 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(ValueError, match=r"out must be a file name ending in \.html or \.htm or \.png, got out='x\.pdf'"):
        ps.dashboard.compare([tmp_path / "run"], "x.pdf")


def test_compare_family_with_metric_and_lineage_flags(tmp_path: Path, capsys) -> None:
    runs = [str(p) for p in write_family(tmp_path / "fam").values()]
    out = tmp_path / "family.html"
    assert main(["compare", *runs, "-o", str(out), "--metric", "loss", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote {out}\n" and captured.err == ""
    page = out.read_text(encoding="utf-8")
    assert "<h2>Lineage</h2>" in page and '"panel":"final:parent:loss"' in page
    assert main(["compare", *runs, "-o", str(out), "--no-lineage"]) == 0
    assert "<h2>Lineage</h2>" not in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["compare", *runs[1:], "-o", str(out), "--lineage"]) == 2
    assert error_line(capsys).startswith("lineage=True but no compared run is a branch of another compared run")
    assert main(["compare", *runs, "-o", str(out), "--metric", "accuracy"]) == 2
    assert error_line(capsys).startswith("metrics: no run logged a metric named 'accuracy'; the runs logged: parent: loss;")


def test_preview_bounds_the_work_for_long_runs(tmp_path: Path, capsys) -> None:
    spec = '{"type": "WarmupStableDecay", "peak": 1.0, "warmup": 0.1, "decay": 0.2}'
    assert main(["preview", spec, "--steps", str(10**20)]) == 2
    assert error_line(capsys) == (
        f"--steps must be at most {MAX_STEPS} (2**53: beyond it steps are not exact as floats), got --steps {10**20}"
    )
    started = time.perf_counter()
    assert main(["preview", spec, "--steps", str(10**12), "-o", str(tmp_path / "long.png")]) == 0
    assert time.perf_counter() - started < 30
    out = capsys.readouterr().out
    assert "evaluated at 100008 of 1000000000000 steps" in out
    assert "warmup 100000000000 steps, peak 1.0 at step 100000000000" in out
    assert "  step 800000000000  1.0" in out and "  step 999999999999  0.0" in out
    # the grid holds the exact values of every step it keeps, and each boundary with its neighbours
    schedule = ps.WarmupStableDecay(1.0, warmup=0.1, decay=0.2)
    total = 10**12
    frame = preview_frame({"lr": schedule.to_spec()}, total)
    for step in (0, 10**11 - 1, 10**11, 10**11 + 1, 8 * 10**11 - 1, 8 * 10**11, total - 1):
        assert frame.at[step, "hp/lr/g0"] == schedule(step, total)
    # up to the limit, every step
    dense = preview_frame({"lr": schedule.to_spec()}, 1000)
    assert len(dense) == 1000 and EVERY_STEP_UP_TO >= 1000


def test_compare_draws_hf_lightning_and_paramsched_runs_on_one_page(tmp_path: Path, capsys) -> None:
    import torch

    # a paramsched run that records its loss (sched.step(metrics=...), record_metrics=True)
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([{"params": [param], "name": "body"}], lr=0.1)
    with ps.ParamScheduler(optimizer, {"lr": ps.WarmupStableDecay(0.1, warmup=0.1, decay=0.3)}, total_steps=200,
                           recorders=[f"csv:{tmp_path / 'own'}"], record_metrics=True) as sched:
        for step in range(200):
            optimizer.step()
            sched.step(metrics={"loss": 1.0 / (1 + step)})
    # a Hugging Face Trainer checkpoint: lr of group 0 and the loss, every 10 updates
    checkpoint = tmp_path / "hf" / "checkpoint-150"
    checkpoint.mkdir(parents=True)
    log = [{"step": s, "learning_rate": 0.05 * (1 - s / 150), "loss": 2.0 / s, "epoch": s / 150} for s in range(10, 151, 10)]
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 150, "log_history": log}))
    # a Lightning CSVLogger metrics.csv: two param groups, 60 steps
    rows = ["step,epoch,lr-AdamW/pg1,lr-AdamW/pg2,loss"] + [f"{s},0,{0.01 * s},{0.02 * s},{3.0 / (1 + s)}" for s in range(60)]
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "mixed.html"
    code = main(["compare", str(tmp_path / "own"), str(checkpoint), f"lightning:{tmp_path / 'metrics.csv'}",
                 "-o", str(out), "--png", str(tmp_path / "mixed.png"), "--metric", "loss", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    comparison = ps.dashboard.build_comparison(
        [tmp_path / "own", checkpoint, ps.replay.load(tmp_path / "metrics.csv", keymap="lightning")], metrics=["loss"]
    )
    assert [sorted(r.series) for r in comparison.runs] == [["hp/lr/body"], ["hp/lr/g0"], ["hp/lr/g0", "hp/lr/g1"]]
    assert [sorted(r.metrics) for r in comparison.runs] == [["loss"]] * 3
    assert [r.metrics["loss"].steps[[0, -1]].tolist() for r in comparison.runs] == [[0, 199], [9, 149], [0, 59]]
    page = out.read_text(encoding="utf-8")
    assert page.count('<section class="run"') == 3 and '"panel":"metric:loss"' in page
    assert (tmp_path / "mixed.png").read_bytes()[:4] == b"\x89PNG"
