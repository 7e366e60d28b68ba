"""The demo (``paramsched demo`` / ``make demo``) with a small step count."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import paramsched as ps
from paramsched.demo import DemoResult, run_demo
from paramsched.demo.train import Trainer

BIN = Path(sys.executable).parent / "paramsched"


@pytest.fixture(scope="module")
def two_demos(tmp_path_factory) -> tuple[DemoResult, DemoResult, list[str]]:
    """The demo run twice (40 steps, CSV only) into two folders, and what the first printed."""
    root = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    first = run_demo(root / "one", steps=40, quiet=True, backends=(), print_fn=lines.append)
    second = run_demo(root / "two", steps=40, quiet=True, backends=(), print_fn=lambda line: None)
    return first, second, lines


def test_demo_branches_three_cooldowns_from_the_stable_run(two_demos) -> None:
    first, second, lines = two_demos
    assert first.final_loss == second.final_loss  # deterministic, bit for bit
    assert first.branch_steps == {"cooldown-16": 16, "cooldown-24": 24, "cooldown-32": 32}  # 40/60/80%
    for name in first.csv_runs:
        assert (first.csv_runs[name] / "values.csv").read_bytes() == (second.csv_runs[name] / "values.csv").read_bytes()
    assert first.branches_exact
    stable = ps.replay.load(first.csv_runs["stable"])
    assert stable.frame.index.tolist() == list(range(40)) and stable.metadata["total_steps"] == 40
    assert stable.frame["hp/lr/head"].iloc[-1] == 3 * stable.frame["hp/lr/body"].iloc[-1]  # stable: no decay
    for name, k in first.branch_steps.items():
        child = ps.replay.load(first.csv_runs[name])
        assert child.lineage["branch_step"] == k and child.lineage["shape"] == "1-sqrt"
        assert Path(child.lineage["source"]).parent == first.csv_runs["stable"]  # .../stable/values.csv
        assert child.frame.index.tolist() == list(range(k, k + 8))  # the cooldown: a fifth of the run
        lr = child.frame["hp/lr/body"]
        assert lr[k] == stable.frame["hp/lr/body"][k] and lr.is_monotonic_decreasing
        # the other keys are the stable run's, replayed
        assert child.frame["hp/weight_decay/body"].tolist() == stable.frame["hp/weight_decay/body"][k:k + 8].tolist()
        assert set(child.metrics.columns) == {"loss", "val_loss"} and child.metrics.index[-1] == k + 7
        assert [e["kind"] for e in child.events] == ["resume"]
    assert sorted(p.name for p in (first.out / "checkpoints").iterdir()) == sorted(
        f"stable-step{k}.pt" for k in range(4, 40, 4)
    )
    assert first.html.is_file() and first.png.read_bytes()[:4] == b"\x89PNG"
    page = first.html.read_text(encoding="utf-8")
    assert page.count('<tr data-child="') == 3 and "final val_loss" in page and '"panel":"metric:loss"' in page
    assert first.backends["mlflow"] == "skipped: not requested"
    assert "  cooldown-24: steps 0..23 equal to the parent: yes; cooldown from the parent's lr at step 24: yes" in lines
    assert any(line.startswith("  dashboard: ") for line in lines)


def test_a_branch_resumes_the_stable_run_bit_for_bit(two_demos) -> None:
    """Training under a branch's schedules up to its branch step reaches the stable run's checkpoint."""
    root = two_demos[0].out
    state = torch.load(root / "checkpoints" / "stable-step16.pt", weights_only=True)
    child = ps.branch(root / "runs" / "stable", at_step=16, cooldown=8)
    trainer = Trainer()
    sched = ps.ParamScheduler(trainer.optimizer, child.schedules, child.total_steps)
    trainer.run(sched, 0, 16, quiet=True)
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(), state["model"].values(), strict=True))
    loaded = Trainer()
    sched = ps.ParamScheduler(loaded.optimizer, **child.scheduler_kwargs())
    loaded.load(root / "checkpoints" / "stable-step16.pt", sched)  # accepted as the parent's
    assert sched.current_step == 16 and loaded.optimizer.param_groups[1]["lr"] == trainer.optimizer.param_groups[1]["lr"]


def test_demo_reruns_into_the_same_folder(two_demos, tmp_path: Path) -> None:
    shutil.copytree(two_demos[1].out, tmp_path / "again")
    again = run_demo(tmp_path / "again", steps=30, quiet=True, backends=(), print_fn=lambda line: None)
    assert len(ps.replay.load(again.csv_runs["stable"]).frame) == 30  # fresh runs, not appended
    assert not (tmp_path / "again" / "checkpoints" / "stable-step4.pt").exists()  # the old run's are gone
    assert (tmp_path / "again" / "checkpoints" / "stable-step3.pt").exists()


def test_demo_rejects_too_few_steps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"steps must be an int >= 20, got steps=5"):
        run_demo(tmp_path, steps=5, quiet=True)
    assert not (tmp_path / "runs").exists()


def test_each_demo_module_reads_in_one_screen() -> None:
    folder = Path(ps.__file__).parent / "demo"
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert set(lengths) == {"__init__.py", "train.py", "trackers.py", "report.py"}
    assert max(lengths.values()) <= 140, lengths


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
    assert (root / "runs" / "stable" / "run.json").is_file()
    assert len(re.findall(r"equal to the parent: yes; cooldown from the parent's lr at step \d+: yes", out)) == 3
    for backend, package in (("mlflow", "paramsched_mlflow"), ("wandb", "paramsched_wandb")):
        if importlib.util.find_spec(package) and importlib.util.find_spec(backend):
            assert f"  {backend}: used" in out
            assert f"{backend} copies (values and lineage) read back identical to the CSV runs: yes" in out
        else:
            assert f"  {backend}: skipped: " in out
    if "  mlflow: used" in out:
        assert (root / "mlflow.db").is_file()
        assert not (tmp_path / "mlruns").exists()  # nothing written outside --out
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
        runs = {r.info.run_name: r for r in client.search_runs(client.get_experiment_by_name("paramsched-demo").experiment_id)}
        assert set(runs) == {"stable", "cooldown-12", "cooldown-18", "cooldown-24"}
        for name in ("cooldown-12", "cooldown-18", "cooldown-24"):  # nested under the stable run
            assert runs[name].data.tags["mlflow.parentRunId"] == runs["stable"].info.run_id
            assert runs[name].data.tags["paramsched.branch_step"] == name.split("-")[1]
    page = (root / "compare.html").read_text(encoding="utf-8")
    assert page.count('<section class="run"') == 4 and page.count('<tr data-child="') == 3
    # the trackers' copies draw the same family, with the loss panels from their own metrics
    for backend in ("mlflow", "wandb"):
        if f"  {backend}: used" not in out:
            continue
        found = dict(re.findall(rf"^  {backend} run (\S+): (\S+)$", out, flags=re.MULTILINE))
        assert list(found) == ["stable", "cooldown-12", "cooldown-18", "cooldown-24"], out
        sources = {name: source if "://" in source else tmp_path / source for name, source in found.items()}
        comparison = ps.dashboard.build_comparison(sources, metrics=["val_loss"], lineage=True)
        (family,) = comparison.families
        assert family.parent.name == "stable", backend
        assert [(b.child.name, b.branch_step) for b in family.branches] == [
            ("cooldown-12", 12), ("cooldown-18", 18), ("cooldown-24", 24)
        ]
        csv_loss = ps.replay.load(root / "runs" / "cooldown-24").metrics["val_loss"]
        assert family.branches[-1].child.metrics["val_loss"].final == (29, float(csv_loss.iloc[-1])), backend
