"""Crash and resume: a process SIGKILLed at a random step resumes from its last checkpoint,
and both its recorded trajectory and its final weights equal an uninterrupted run's, bit for bit."""

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

WORKER = Path(__file__).resolve().parents[1] / "_workers" / "crash_train.py"
STEPS = 60


def _run(out: Path, *extra: str) -> None:
    result = subprocess.run([sys.executable, str(WORKER), str(out), "--steps", str(STEPS), *extra],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]


def _run_and_kill(out: Path, kill_after: int) -> int:
    """Start a run and SIGKILL it once it reports update ``kill_after``; the last update it reported."""
    proc = subprocess.Popen([sys.executable, str(WORKER), str(out), "--steps", str(STEPS)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    last = -1
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            last = int(line.split()[1])
            if last >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    return last


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    _run(out)
    return ps.replay.load(out / "run"), torch.load(out / "final.pt")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_run_resumes_bit_for_bit(reference, tmp_path, seed):
    kill_after = random.Random(seed).randrange(12, STEPS - 5)
    last = _run_and_kill(tmp_path, kill_after)
    assert kill_after <= last < STEPS - 1, "the run must die before its end"
    assert not (tmp_path / "final.pt").exists()
    _run(tmp_path, "--resume")

    expected_traj, expected_weights = reference
    resumed = ps.replay.load(tmp_path / "run")
    assert list(resumed.frame.index) == list(range(STEPS))
    assert resumed.equals(expected_traj)
    assert (resumed.frame == expected_traj.frame).all().all()
    weights = torch.load(tmp_path / "final.pt")
    assert weights.keys() == expected_weights.keys()
    for name, tensor in expected_weights.items():
        assert torch.equal(weights[name], tensor), name
    assert resumed.metadata["resumes"], "run.json records the resume"
