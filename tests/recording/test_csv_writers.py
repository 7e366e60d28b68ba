"""One run directory, one writer; a checkpoint makes the log durable; a full disk never stops
training (issues 11.2, 11.3, 11.4)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import paramsched as ps
from paramsched.recording import CsvRecorder
from paramsched.recording.csv import RunDirectoryInUseError

META = {"format": "paramsched.run/1", "series": ["hp/lr/g0"], "resumed_from_step": None}


def _record(folder, base, steps, queue, overwrite=False, barrier=None):
    """A writer process: record ``steps`` rows of ``base + step``; report how it ended."""
    try:
        rec = CsvRecorder(folder, flush_every=1, overwrite=overwrite)
        if barrier is not None:  # both writers start together: neither finishes before the other opens
            barrier.wait(30)
        rec.start(META)
        for step in range(steps):
            rec.record(step, {"hp/lr/g0": base + step})
            time.sleep(0.001)
        rec.close()
        queue.put(("ok", base))
    except RunDirectoryInUseError as exc:
        queue.put(("refused", str(exc)))


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_processes_on_one_run_directory_never_mix(tmp_path, overwrite):
    context = multiprocessing.get_context("fork")
    for trial in range(10):
        folder = tmp_path / f"trial{trial}"
        queue = context.Queue()
        barrier = context.Barrier(2)
        writers = [
            context.Process(target=_record, args=(folder, base, 60, queue, overwrite, barrier)) for base in (1000.0, 2000.0)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(60)
        outcomes = [queue.get(timeout=10) for _ in writers]
        assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"], outcomes
        (winner,) = [base for kind, base in outcomes if kind == "ok"]
        (message,) = [text for kind, text in outcomes if kind == "refused"]
        assert f"{str(folder)!r} is being recorded by process " in message and "one run directory has one writer" in message
        traj = ps.replay.load(folder)  # one header, one writer's rows, nothing else
        assert traj.frame["hp/lr/g0"].tolist() == [winner + step for step in range(60)]
        assert traj.notes == ()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    script = textwrap.dedent(f"""
        import time
        from paramsched.recording import CsvRecorder
        rec = CsvRecorder({str(tmp_path)!r}, flush_every=1)
        rec.start({META!r})
        rec.record(0, {{"hp/lr/g0": 0.5}})
        print("started", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        with pytest.raises(RunDirectoryInUseError, match=rf"is being recorded by process {proc.pid} on "):
            CsvRecorder(tmp_path).start(dict(META, resumed_from_step=1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    rec = CsvRecorder(tmp_path)
    with pytest.warns(RuntimeWarning, match=rf"last recorded by process {proc.pid} .* no longer holds it .*taking the run directory over"):
        rec.start(dict(META, resumed_from_step=1))
    rec.record(1, {"hp/lr/g0": 0.25})
    rec.close()
    assert ps.replay.load(tmp_path).frame["hp/lr/g0"].tolist() == [0.5, 0.25]


def test_resuming_from_an_older_checkpoint_than_the_last_is_refused(tmp_path):
    rec = CsvRecorder(tmp_path, flush_every=1000)
    rec.start(META)
    for step in range(50):
        rec.record(step, {"hp/lr/g0": float(step)})
        if step + 1 in (20, 40):
            rec.checkpoint(step + 1)  # flushed, fsynced, noted in run.json
    rec.close()
    assert json.loads((tmp_path / "run.json").read_text())["last_checkpoint_step"] == 40
    with pytest.raises(ValueError, match=r"cannot resume .* at step 20: the run was checkpointed at step 40.*"
                                         r"replace the steps 20\.\.39 .* pass overwrite=True"):
        CsvRecorder(tmp_path).start(dict(META, resumed_from_step=20))
    again = CsvRecorder(tmp_path)
    again.start(dict(META, resumed_from_step=40))  # the last checkpoint: normal
    again.record(40, {"hp/lr/g0": -40.0})
    again.close()
    assert ps.replay.load(tmp_path).frame["hp/lr/g0"].tolist() == [*map(float, range(40)), -40.0]
    forced = CsvRecorder(tmp_path, overwrite=True)
    forced.start(dict(META, resumed_from_step=20))
    forced.close()
    assert ps.replay.load(tmp_path).frame.index.tolist() == list(range(20))


def test_state_dict_makes_the_log_durable_without_flush(tmp_path):
    """SIGKILL right after a checkpoint: every step the checkpoint covers is on disk."""
    script = textwrap.dedent(f"""
        import os, signal, torch, paramsched as ps
        opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        sched = ps.ParamScheduler(opt, {{"lr": ps.Cosine(0.1, 0.0)}}, 400, recorders=["csv:{tmp_path}"])
        for k in range(57):
            opt.step(); sched.step()
        state = sched.state_dict()           # flush_every=100 by default: 57 rows only in memory before
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", script], timeout=120)
    traj = ps.replay.load(tmp_path)
    assert traj.frame.index.tolist() == list(range(57))
    assert json.loads((tmp_path / "run.json").read_text())["last_checkpoint_step"] == 57


def test_a_full_disk_at_the_first_record_never_stops_training(tmp_path):
    """RLIMIT_FSIZE makes every write beyond 10 bytes fail with EFBIG, from the very first row."""
    script = textwrap.dedent(f"""
        import resource, signal, warnings, torch, paramsched as ps
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        sched = ps.ParamScheduler(opt, {{"lr": ps.Linear(0.1, 0.0)}}, 300, recorders=["csv:{tmp_path / 'run'}"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (10, resource.RLIM_INFINITY))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for k in range(300):
                opt.step(); sched.step()
            sched.state_dict()
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            sched.close()
        print(sched.current_step, len([w for w in caught if "csv recorder" in str(w.message)]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["300", "1"]  # trained to the end, warned once
    # the disk came back before close(): every row was written, in order, once
    assert ps.replay.load(tmp_path / "run").frame.index.tolist() == list(range(300))


def test_a_wrong_path_still_raises_at_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ps.recording.RecorderError, match="cannot write the run in"):
        CsvRecorder(blocker / "run").start(META)
