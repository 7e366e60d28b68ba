"""The ``paramsched`` command, run as a subprocess against real runs from every backend.

CSV runs always; an MLflow run (embedded sqlite) and a W&B offline run when
paramsched-mlflow / paramsched-wandb are installed. User mistakes must give
exit code 2 and exactly one line ``paramsched: error: ...`` on stderr.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import paramsched as ps

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "paramsched"
TOTAL = 120


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the installed ``paramsched`` script (or ``python -m paramsched``) and capture its output."""
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "paramsched"]
    full_env = {**child_env(), "WANDB_MODE": "offline", "WANDB_SILENT": "true", **(env or {})}
    return subprocess.run(
        [*command, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def child_env() -> dict[str, str]:
    """This environment without ``WANDB_SERVICE``: wandb sets it in this process for its own
    children, and a subprocess attached to this process's W&B service wrote no run file."""
    return {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"} | {"PYTHONWARNINGS": "ignore"}


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert exit code 2 with one ``paramsched: error:`` line and no traceback; return the message."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paramsched: error: ")
    return lines[0][len("paramsched: error: "):]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def record(schedules: dict[Any, Any], recorders: list[Any]) -> None:
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD(
        [{"params": [a], "name": "body"}, {"params": [b], "name": "head"}], lr=0.1, momentum=0.9
    )
    with ps.ParamScheduler(optimizer, schedules, total_steps=TOTAL, recorders=recorders) as sched:
        for _ in range(TOTAL):
            optimizer.step()
            sched.step()


BASELINE = {"lr": ps.WarmupStableDecay(0.1, warmup=0.1, decay=0.3), "momentum": ps.Cosine(0.9, 0.5)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Sources: the baseline to CSV (+ MLflow sqlite + W&B offline when installed) and an ablation."""
    root = tmp_path_factory.mktemp("runs")
    sources: dict[str, str] = {"root": str(root)}
    recorders: list[Any] = [f"csv:{root / 'baseline'}"]
    mlflow_recorder = wandb_recorder = None
    if importlib.util.find_spec("paramsched_mlflow") and importlib.util.find_spec("mlflow"):
        from mlflow import MlflowClient

        from paramsched_mlflow import MlflowRecorder

        uri = f"sqlite:///{root / 'mlflow.db'}"
        # artifacts under root too (a sqlite store's default artifact root is ./mlruns of the cwd)
        MlflowClient(tracking_uri=uri).create_experiment("cli-test", artifact_location=(root / "artifacts").as_uri())
        mlflow_recorder = MlflowRecorder(tracking_uri=uri, experiment="cli-test", run_name="baseline", on_error="raise")
        recorders.append(mlflow_recorder)
    if importlib.util.find_spec("paramsched_wandb") and importlib.util.find_spec("wandb"):
        import wandb

        from paramsched_wandb import WandbRecorder

        wandb_recorder = WandbRecorder(
            project="cli-test", name="baseline", dir=root / "wandb", mode="offline", on_error="raise",
            init_kwargs={"settings": wandb.Settings(silent=True, console="off", disable_git=True, x_disable_stats=True)},
        )
        recorders.append(wandb_recorder)
    record(BASELINE, recorders)
    sources["baseline"] = str(root / "baseline")
    if mlflow_recorder is not None:
        sources["mlflow"] = f"mlflow://{mlflow_recorder.run_id}?tracking_uri=sqlite:///{root / 'mlflow.db'}"
        sources["mlflow_db"] = f"sqlite:///{root / 'mlflow.db'}"
    if wandb_recorder is not None:
        (found,) = (root / "wandb").glob(f"wandb/offline-run-*-{wandb_recorder.run.id}")
        sources["wandb"] = str(found)
    lr = ps.replay.load(root / "baseline").schedules(keys=["lr"])
    record({**lr, "momentum": ps.Constant(0.9)}, [f"csv:{root / 'ablation'}"])
    sources["ablation"] = str(root / "ablation")
    return sources


def needs(runs: dict[str, str], backend: str) -> str:
    if backend not in runs:
        pytest.skip(f"paramsched-{backend} (and {backend}) not installed: pip install -e integrations/{backend}")
    return runs[backend]


# -- compare -----------------------------------------------------------------------------


def test_compare_csv_runs_html_and_png(runs: dict[str, str], tmp_path: Path) -> None:
    result = cli("compare", runs["baseline"], runs["ablation"], "-o", "c.html", "--png", "c.png", "--by", "fraction", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["wrote c.html", "wrote c.png"]
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert page.count('<section class="run"') == 2
    assert '"by":"fraction"' in page
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_mixes_every_backend(runs: dict[str, str], tmp_path: Path) -> None:
    sources = [runs["baseline"], runs["ablation"]] + [runs[b] for b in ("mlflow", "wandb") if b in runs]
    result = cli("compare", *sources, "-o", "mixed.html", "--reference", "baseline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "mixed.html").read_text(encoding="utf-8")
    assert page.count('<section class="run"') == len(sources)
    # the MLflow and W&B copies of the baseline are identical to it in every series
    assert page.count('<td class="same">identical</td>') == 2 + 4 * (len(sources) - 2)


def test_compare_and_diff_a_foreign_log_with_a_keymap(runs: dict[str, str], tmp_path: Path) -> None:
    # A Lightning CSVLogger metrics.csv (LearningRateMonitor names) holding the baseline's lr.
    frame = ps.replay.load(runs["baseline"]).frame
    rows = ["step,epoch,lr-SGD/body,lr-SGD/head,train_loss"]
    rows += [f"{k},0,{float(frame.at[k, 'hp/lr/body'])!r},{float(frame.at[k, 'hp/lr/head'])!r},0.5" for k in frame.index]
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    plain = one_error_line(cli("diff", runs["baseline"], "metrics.csv", cwd=tmp_path))
    assert "pass keymap='lightning'" in plain
    result = cli("diff", runs["baseline"], "metrics.csv", "--keymap", "lightning", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[:-1])
    assert lines["hp/lr/body"] == f"equal ({TOTAL} steps)" and lines["hp/momentum/head"] == "only in A"
    page = cli("compare", runs["baseline"], "metrics.csv", "--keymap", "lightning", "-o", "lt.html", cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    assert (tmp_path / "lt.html").read_text(encoding="utf-8").count('<td class="same">identical</td>') == 2


# -- diff ------------------------------------------------------------------------------------


def test_diff_differing_runs_exits_1(runs: dict[str, str], tmp_path: Path) -> None:
    result = cli("diff", runs["baseline"], runs["ablation"], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[:-1])
    assert lines["hp/lr/body"] == f"equal ({TOTAL} steps)"
    assert lines["hp/lr/head"] == f"equal ({TOTAL} steps)"
    momentum_at_1 = ps.Cosine(0.9, 0.5)(1, TOTAL)
    assert lines["hp/momentum/body"] == f"differs from step 1: {momentum_at_1!r} (A) vs 0.9 (B)"
    assert result.stdout.splitlines()[-1] == "2 of 4 series differ"


@pytest.mark.parametrize("backend", ["baseline", "mlflow", "wandb"])
def test_diff_identical_copies_exit_0(runs: dict[str, str], backend: str, tmp_path: Path) -> None:
    source = needs(runs, backend)
    result = cli("diff", runs["baseline"], source, cwd=tmp_path)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[-1] == "all 4 series are identical"


# -- export ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mlflow", "wandb"])
def test_export_any_source_to_a_csv_run(runs: dict[str, str], backend: str, tmp_path: Path) -> None:
    source = needs(runs, backend)
    result = cli("export", source, "-o", "copy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote copy (values.csv + run.json;")
    copy = ps.replay.load(tmp_path / "copy")
    original = ps.replay.load(runs["baseline"])
    assert (ps.replay.diff(original, copy)["status"] == "equal").all()
    assert copy.metadata is not None and copy.metadata["schedules"] == original.metadata["schedules"]
    # the same again refuses to overwrite, unless asked
    again = cli("export", source, "-o", "copy", cwd=tmp_path)
    assert one_error_line(again) == "'copy' already holds a CSV run; pass --overwrite to replace it"
    assert cli("export", source, "-o", "copy", "--overwrite", cwd=tmp_path).returncode == 0


def test_export_to_a_single_csv_file(runs: dict[str, str], tmp_path: Path) -> None:
    result = cli("export", runs["baseline"], "-o", "flat.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "export to a directory to keep run.json" in result.stderr
    flat = ps.replay.load(tmp_path / "flat.csv")
    assert flat.metadata is None
    assert flat.frame.equals(ps.replay.load(runs["baseline"]).frame)


# -- preview ------------------------------------------------------------------------------


def test_preview_prints_and_draws(tmp_path: Path) -> None:
    spec = {"lr": ps.WarmupStableDecay(3e-4, warmup=100, decay=200).to_spec(), "betas.0": ps.Linear(0.85, 0.95).to_spec()}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = cli("preview", "spec.json", "--steps", "1000", "-o", "p.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "wrote p.png" in out
    assert "warmup 100 steps, peak 0.0003 at step 100, decay from step 800" in out
    assert "  step      100  0.0003" in out
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    html = cli("preview", '{"type": "Cosine", "start": 1.0, "end": 0.0}', "--steps", "10", "-o", "p.html", cwd=tmp_path)
    assert html.returncode == 0, html.stderr
    assert "value: Cosine(start=1.0, end=0.0)" in html.stdout
    assert "hp/value/g0" in (tmp_path / "p.html").read_text(encoding="utf-8")


# -- user mistakes: exit 2, one line ------------------------------------------------------


def test_missing_path(runs: dict[str, str], tmp_path: Path) -> None:
    message = one_error_line(cli("diff", "no/such/run", runs["baseline"], cwd=tmp_path))
    assert message == "no run at 'no/such/run': the path does not exist"
    message = one_error_line(cli("compare", runs["baseline"], "gone", "-o", "x.html", cwd=tmp_path))
    assert message == "no run at 'gone': the path does not exist"
    assert not (tmp_path / "x.html").exists()


def test_a_folder_that_is_not_a_run(runs: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    message = one_error_line(cli("export", "empty", "-o", "out", cwd=tmp_path))
    assert message.startswith("no replay source can read 'empty'; registered sources:")


def test_unknown_mlflow_run_id(runs: dict[str, str], tmp_path: Path) -> None:
    db = needs(runs, "mlflow_db")
    message = one_error_line(cli("diff", f"mlflow://0123456789abcdef?tracking_uri={db}", runs["baseline"], cwd=tmp_path))
    assert "0123456789abcdef" in message


def test_mlflow_server_unreachable(runs: dict[str, str], tmp_path: Path) -> None:
    needs(runs, "mlflow")
    url = f"mlflow://0123456789abcdef?tracking_uri=http://127.0.0.1:{free_port()}"
    message = one_error_line(cli("diff", url, runs["baseline"], cwd=tmp_path, timeout=120))
    assert "127.0.0.1" in message


def test_wandb_server_unreachable(runs: dict[str, str], tmp_path: Path) -> None:
    needs(runs, "wandb")
    url = f"wandb://someone/project/run1?base_url=http://127.0.0.1:{free_port()}&timeout=3"
    message = one_error_line(cli("diff", url, runs["baseline"], cwd=tmp_path, timeout=120))
    assert "127.0.0.1" in message


def test_bad_preview_spec(tmp_path: Path) -> None:
    assert "spec type must be one of" in one_error_line(cli("preview", '{"type": "Cosin"}', "--steps", "10", cwd=tmp_path))
    assert "no spec file at 'missing.json'" in one_error_line(cli("preview", "missing.json", "--steps", "10", cwd=tmp_path))


@pytest.mark.parametrize(
    "spec,expected",
    [
        ('{"lr": {"type": "Linear", "start": -1.0, "end": 0.0}}', "lr must be >= 0"),
        ('{"lr": 3}', "the spec of 'lr' must be a JSON object with a 'type'"),
        ("{not json", "the inline spec is not valid JSON"),
        ("@list.json", "list.json must hold a schedule spec"),
    ],
)
def test_bad_preview_spec_in_process(spec: str, expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from paramsched.cli import main

    if spec.startswith("@"):
        (tmp_path / spec[1:]).write_text("[1, 2]")
        spec = str(tmp_path / spec[1:])
    assert main(["preview", spec, "--steps", "10"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("paramsched: error: ")
    assert expected in captured.err


def test_preview_rejects_bad_steps_and_suffix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from paramsched.cli import main

    spec = '{"type": "Constant", "value": 1.0}'
    assert main(["preview", spec, "--steps", "0"]) == 2
    assert "--steps must be an int >= 1, got --steps 0" in capsys.readouterr().err
    assert main(["preview", spec, "--steps", "5", "-o", str(tmp_path / "x.svg")]) == 2
    assert "-o must end in .png or .html" in capsys.readouterr().err


def test_argument_errors_are_usage_errors(tmp_path: Path) -> None:
    result = cli("compare", "a", "-o", "x.html", "--by", "epoch", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice: 'epoch'" in result.stderr
    assert cli(cwd=tmp_path).returncode == 2  # no command


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paramsched", "--version"], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"paramsched {ps.__version__}"


def test_reading_comparing_and_exporting_runs_needs_no_torch(tmp_path: Path) -> None:
    """torch takes most of a second or two to import: ``paramsched`` reads, diffs, exports,
    compares and previews without it (here it cannot be imported at all)."""
    record({"lr": ps.Cosine(0.1, 0.0)}, [f"csv:{tmp_path / 'run'}"])
    spec = json.dumps({"lr": {"type": "Cosine", "start": 0.1, "end": 0.0}})
    without_torch = "import sys; sys.modules['torch'] = None\nfrom paramsched.cli import main\nsys.exit(main(sys.argv[1:]))"
    outputs = {}
    for args in (["diff", "run", "run"], ["export", "run", "-o", "copy"], ["compare", "run", "copy", "--out", "c.html"],
                 ["preview", spec, "--steps", "10"], ["--help"]):
        result = subprocess.run([sys.executable, "-c", without_torch, *args], cwd=tmp_path, env=child_env(),
                                capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, (args, result.stderr[-2000:])
        outputs[args[0]] = result.stdout
    assert outputs["diff"].splitlines()[-1] == "all 2 series are identical"  # lr of the groups body and head
    assert outputs["preview"] == cli("preview", spec, "--steps", "10", cwd=tmp_path).stdout  # the same as with torch
    assert ps.replay.load(tmp_path / "copy").frame.equals(ps.replay.load(tmp_path / "run").frame)
    assert (tmp_path / "c.html").stat().st_size > 0
