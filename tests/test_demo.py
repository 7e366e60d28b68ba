"""The demo (``paramsched demo`` / ``make demo``) with a small step count."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.demo import run_demo

BIN = Path(sys.executable).parent / "paramsched"


def test_demo_is_deterministic_and_replays_the_lr_exactly(tmp_path: Path) -> None:
    lines: list[str] = []
    first = run_demo(tmp_path / "one", steps=30, quiet=True, backends=(), print_fn=lines.append)
    second = run_demo(tmp_path / "two", steps=30, quiet=True, backends=(), print_fn=lambda line: None)
    assert first.final_loss == second.final_loss
    for name in ("baseline", "ablation"):
        assert (first.csv_runs[name] / "values.csv").read_bytes() == (second.csv_runs[name] / "values.csv").read_bytes()
    assert first.lr_replayed_exactly
    baseline, ablation = (ps.replay.load(first.csv_runs[n]) for n in ("baseline", "ablation"))
    for group in ("body", "head"):
        assert baseline.frame[f"hp/lr/{group}"].equals(ablation.frame[f"hp/lr/{group}"])
        assert not baseline.frame[f"hp/weight_decay/{group}"].equals(ablation.frame[f"hp/weight_decay/{group}"])
    # the baseline's schedules: WSD lr (head 3x), beta1 warmup, cosine weight decay
    assert baseline.metadata["overrides"]["head"]["lr"]["peak"] == 9e-3
    assert baseline.frame["hp/betas.0/body"].iloc[0] == 0.85 and baseline.frame["hp/betas.0/body"].iloc[-1] == 0.95
    assert first.html.is_file() and first.png.read_bytes()[:4] == b"\x89PNG"
    assert first.backends["mlflow"] == "skipped: not requested"
    assert "  lr replayed bit-for-bit from the baseline's CSV log: yes" in lines
    assert any(line.startswith("  dashboard: ") for line in lines)


def test_demo_reruns_into_the_same_folder(tmp_path: Path) -> None:
    run_demo(tmp_path, steps=20, quiet=True, backends=(), print_fn=lambda line: None)
    again = run_demo(tmp_path, steps=25, quiet=True, backends=(), print_fn=lambda line: None)
    assert len(ps.replay.load(again.csv_runs["baseline"]).frame) == 25  # fresh runs, not appended


def test_demo_rejects_too_few_steps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"steps must be an int >= 20, got steps=5"):
        run_demo(tmp_path, steps=5, quiet=True)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_paramsched_demo_command(tmp_path: Path) -> None:
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "paramsched"]
    # Without WANDB_SERVICE: wandb sets it in this process (if another test used W&B here),
    # and a subprocess attached to this process's W&B service wrote no run file.
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"} | {"PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [*command, "demo", "--out", "demo", "--steps", "30"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    root = tmp_path / "demo"
    assert (root / "compare.html").is_file() and (root / "compare.png").is_file()
    assert (root / "runs" / "baseline" / "run.json").is_file()
    assert "lr replayed bit-for-bit from the baseline's CSV log: yes" in out
    for backend, package in (("mlflow", "paramsched_mlflow"), ("wandb", "paramsched_wandb")):
        if importlib.util.find_spec(package) and importlib.util.find_spec(backend):
            assert f"  {backend}: used" in out
            assert f"{backend} copies read back identical to the CSV runs: yes" in out
        else:
            assert f"  {backend}: skipped: " in out
    if "  mlflow: used" in out:
        assert (root / "mlflow.db").is_file()
        assert list((root / "mlflow-artifacts").glob("*/artifacts/paramsched/run.json"))
        assert not (tmp_path / "mlruns").exists()  # nothing written outside --out
    page = (root / "compare.html").read_text(encoding="utf-8")
    assert page.count('<section class="run"') == 2
