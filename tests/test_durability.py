"""A checkpoint makes the record durable: SIGKILLed runs resumed from their last checkpoint
leave a log holding every step exactly once, interventions and policy decisions included
(issues 11.2 and 10)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import paramsched as ps

WORKER = Path(__file__).resolve().parent / "_workers" / "durable_train.py"
STEPS, EVERY, CUTS = 200, 10, "50,130"
ARGS = ["--steps", str(STEPS), "--every", str(EVERY), "--interventions", CUTS, "--policy"]


def _run(out: Path, kill_after: int | None = None) -> int:
    """Run (resuming from OUT/ckpt.pt if there is one); SIGKILL once update ``kill_after`` is done."""
    proc = subprocess.Popen([sys.executable, str(WORKER), str(out), *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = -1
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            last = int(line.split()[1])
            if kill_after is not None and last >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    if kill_after is None:
        assert proc.returncode == 0, proc.stderr.read()[-3000:] if proc.stderr else ""
    return last


def _rows(folder: Path) -> list[int]:
    text = (folder / "values.csv").read_text()
    return [int(line.split(",", 1)[0]) for line in text.splitlines()[1:]]


@pytest.mark.slow
def test_killed_runs_lose_nothing_and_duplicate_nothing(tmp_path):
    reference = tmp_path / "reference"
    _run(reference)
    expected = ps.replay.load(reference / "run")

    crashed = tmp_path / "crashed"
    kills = sorted(random.Random(7).sample(range(5, STEPS - 5), 3)) + [135]  # one after the second cut
    for kill_after in sorted(kills):
        if (crashed / "run" / "values.csv").exists():
            done = max(_rows(crashed / "run"), default=-1)
            if kill_after <= done:
                continue
        last = _run(crashed, kill_after)
        assert last < STEPS - 1, "the run must die before its end"
    _run(crashed)

    steps = _rows(crashed / "run")
    assert steps == list(range(STEPS)), "every step exactly once, in order, in the file itself"
    log = ps.replay.load(crashed / "run")
    assert log.equals(expected)
    assert not [note for note in log.notes if "more than once" in note]
    # the same interventions and policy decisions, whatever the kills
    def decisions(traj):
        return [(e["step"], e["kind"], e["series"], e["after"], e["spec"]) for e in traj.events if e["kind"] != "resume"]

    assert decisions(log) == decisions(expected)
    assert {e["kind"] for e in expected.events} == {"intervention", "policy"}
    assert [e["step"] for e in log.events if e["kind"] == "intervention"] == [50, 130]
    # the weights too
    weights, reference_weights = torch.load(crashed / "final.pt"), torch.load(reference / "final.pt")
    assert all(torch.equal(weights[name], reference_weights[name]) for name in reference_weights)
    # and the log rebuilds exactly, interventions and policy decisions included, without the metrics
    rebuilt = ps.replay.rebuild(log)
    assert rebuilt.ok, rebuilt.report()
    assert len(log.metadata["resumes"]) >= 3
