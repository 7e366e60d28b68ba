"""A Lightning run SIGKILLed between checkpoints and resumed from one has every step in its log, once.

The callback's checkpoint (``state_dict``) makes the recorders and the
trainer's loggers durable up to that step, so nothing before the checkpoint
is lost with the process; the resumed run records the rest.
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.recording import CsvRecorder

_spec = importlib.util.spec_from_file_location("_killable_fit", Path(__file__).with_name("_killable_fit.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

KILL_AT = 13  # after update 12: the checkpoint at step 10 holds updates 0..9, updates 10..12 are unsaved


def _stored_steps(values_csv: Path) -> list[int]:
    with open(values_csv, newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def _hp_steps(metrics_csv: Path) -> list[int]:
    with open(metrics_csv, newline="") as handle:
        return sorted(int(row["step"]) for row in csv.DictReader(handle) if row.get("hp/lr/body"))


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("killed")
    script = Path(run.__file__)
    done = subprocess.run([sys.executable, str(script), str(out), str(KILL_AT)], capture_output=True, text=True, timeout=240)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_what_a_checkpoint_covers_survives_sigkill(killed: Path) -> None:
    assert sorted(p.name for p in (killed / "ckpt").iterdir()) == ["step=10.ckpt", "step=5.ckpt"]
    # flush_every=100 would have kept all of it in memory: the checkpoints wrote it
    assert _stored_steps(killed / "values" / "values.csv") == list(range(10))
    assert ps.replay.load(killed / "tb").frame.index.tolist() == list(range(10))  # TensorBoard's too
    # the logger stream too (Lightning itself also saves a CSVLogger after each of its own logs)
    assert _hp_steps(killed / "logs" / "first" / "metrics.csv")[:10] == list(range(10))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*no longer holds it")  # the csv recorder takes over the killed run's lock
@pytest.mark.filterwarnings("ignore:.*(dirpath has changed|ended before the epoch ended)")
@pytest.mark.parametrize("checkpoint", [10, 5])
def test_resume_from_a_checkpoint_logs_every_step_once(killed: Path, tmp_path: Path, checkpoint: int) -> None:
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    # an older checkpoint than the last one replaces what was recorded after it: said explicitly
    recorder = CsvRecorder(out / "values", overwrite=True) if checkpoint < 10 else None
    callback = run.fit(out, ckpt_path=out / "ckpt" / f"step={checkpoint}.ckpt", recorder=recorder)
    assert callback.scheduler.current_step == run.STEPS
    assert _stored_steps(out / "values" / "values.csv") == list(range(run.STEPS))
    traj = ps.replay.load(out / "values")
    for k in range(run.STEPS):
        assert traj.frame.loc[k].to_dict() == callback.scheduler.values_at(k)
    assert [e["step"] for e in traj.events if e["kind"] == "resume"] == [checkpoint]
    tb = ps.replay.load(out / "tb")  # the resumed file replaces the killed run's steps from the checkpoint on
    assert tb.frame.equals(traj.frame)
    assert [e["step"] for e in tb.events if e["kind"] == "resume"] == [checkpoint]
    assert _hp_steps(out / "logs" / "resumed" / "metrics.csv") == list(range(checkpoint, run.STEPS))
