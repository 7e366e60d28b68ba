"""Every script in examples/ runs, with a small step count, as a subprocess.

Each example checks its own claims (recorded == preview, resumed == uninterrupted,
MLflow/W&B record == CSV record, ...) and exits non-zero when one fails.
examples/torchrun_ddp.py and torchrun_fsdp.py also run on 2 processes in tests/test_distributed.py.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import paramsched as ps

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TIMEOUT = 240

# name -> (steps, needs, slow)
CASES = {
    "plain_loop": (20, (), False),
    "custom_schedule": (20, (), False),
    "ablation_replay": (20, (), False),
    "resume_from_crash": (12, (), True),
    "torchrun_ddp": (8, (), True),
    "torchrun_fsdp": (8, (), True),
    "lightning_wandb": (6, ("lightning", "wandb", "paramsched_lightning"), True),
    "hf_trainer_mlflow": (6, ("transformers", "mlflow", "paramsched_transformers"), True),
}
# where each example leaves its paramsched CSV run
RUNS = {"ablation_replay": "b", "resume_from_crash": "crashed/values"}


def test_every_example_is_covered_and_documented():
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(CASES)
    for name in scripts:
        doc = ast.get_docstring(ast.parse((EXAMPLES / f"{name}.py").read_text()))
        assert doc and len(doc.splitlines()[0]) > 20, f"{name}.py needs a docstring saying what it shows"
        assert "Run" in doc and f"examples/{name}.py" in doc, f"{name}.py's docstring must say how to run it"
        assert "--steps" in doc and "--out" in doc, name


def _params():
    for name, (steps, needs, slow) in CASES.items():
        marks = [pytest.mark.slow] if slow else []
        yield pytest.param(name, steps, needs, id=name, marks=marks)


@pytest.mark.parametrize(("name", "steps", "needs"), list(_params()))
def test_example_runs(name, steps, needs, tmp_path):
    for module in needs:
        pytest.importorskip(module)
    out = tmp_path / "out"
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"),
        WANDB_CACHE_DIR=str(tmp_path / "wandb-cache"),
        MLFLOW_EXPERIMENT_NAME="paramsched-examples-test",
        PYTHONUNBUFFERED="1",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--steps", str(steps), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"{name}.py failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    run = ps.replay.load(out / RUNS.get(name, "values"))
    assert list(run.frame.index) == list(range(steps))
