"""CsvRecorder: the replay contract (write, read back with ==, resume, kill)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from paramsched.recording import CsvRecorder, RecorderError


def read_values(folder) -> tuple[list[str], list[tuple[int, dict[str, float]]]]:
    """The reader of the contract: header, then rows parsed with int() / float()."""
    with open(os.path.join(folder, "values.csv"), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [(int(line[0]), dict(zip(header[1:], map(float, line[1:]), strict=True))) for line in reader]
    return header, rows


def write_run(folder, rh, steps, *, flush_every=100, resumed_from_step=None, series=None):
    series = series or rh.SERIES_12
    expected = []
    rec = CsvRecorder(folder, flush_every=flush_every)
    rec.start(rh.make_metadata(series, resumed_from_step=resumed_from_step))
    for step in steps:
        values = rh.row_values(step, series)
        rec.record(step, values)
        expected.append((step, values))
    rec.close()
    return expected


def test_write_then_read_back_bit_for_bit(tmp_path, rh):
    folder = tmp_path / "run"
    expected = write_run(folder, rh, range(250))
    header, rows = read_values(folder)
    assert header == ["step", *rh.SERIES_12]
    assert rows == expected
    assert json.loads((folder / "run.json").read_text()) == rh.make_metadata(rh.SERIES_12) | {
        "created_at": json.loads((folder / "run.json").read_text())["created_at"]
    }


@pytest.mark.parametrize(
    "value",
    [0.1, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, 2.0**-1074 * 3, 3e-4 * (1 - 1e-16), 1e22, 123456789.123456789],
)
def test_awkward_floats_round_trip(tmp_path, rh, value):
    rec = CsvRecorder(tmp_path, flush_every=1)
    rec.start(rh.make_metadata(["hp/lr/g0"]))
    rec.record(0, {"hp/lr/g0": value})
    rec.close()
    (_, values), = read_values(tmp_path)[1]
    assert values["hp/lr/g0"] == value and str(values["hp/lr/g0"]) == str(value)


def test_values_in_another_key_order_are_written_in_header_order(tmp_path, rh):
    rec = CsvRecorder(tmp_path)
    rec.start(rh.make_metadata(["hp/lr/g0", "hp/lr/g1"]))
    rec.record(0, {"hp/lr/g1": 2.0, "hp/lr/g0": 1.0})
    with pytest.raises(ValueError, match=r"missing \['hp/lr/g1'\], unexpected \['hp/lr/x'\]"):
        rec.record(1, {"hp/lr/g0": 1.0, "hp/lr/x": 2.0})
    rec.close()
    assert read_values(tmp_path)[1] == [(0, {"hp/lr/g0": 1.0, "hp/lr/g1": 2.0})]


def test_rows_are_written_every_flush_every_rows(tmp_path, rh):
    rec = CsvRecorder(tmp_path, flush_every=10)
    rec.start(rh.make_metadata(rh.SERIES_12))
    for step in range(25):
        rec.record(step, rh.row_values(step))
    assert len(read_values(tmp_path)[1]) == 20
    rec.flush()
    assert len(read_values(tmp_path)[1]) == 25
    rec.close()


def test_resume_replaces_the_steps_after_the_checkpoint_and_records_the_resume(tmp_path, rh):
    first = write_run(tmp_path, rh, range(60))
    # Resumed from a checkpoint at step 40: steps 40..59 are recorded again, once.
    second = write_run(tmp_path, rh, range(40, 90), resumed_from_step=40)
    header, rows = read_values(tmp_path)
    assert rows == first[:40] + second
    assert [step for step, _ in rows] == list(range(90))
    document = json.loads((tmp_path / "run.json").read_text())
    assert document["resumed_from_step"] is None  # the original document is kept
    assert [entry["at_step"] for entry in document["resumes"]] == [40]
    write_run(tmp_path, rh, range(90, 91), resumed_from_step=90)
    assert [e["at_step"] for e in json.loads((tmp_path / "run.json").read_text())["resumes"]] == [40, 90]


def test_resume_with_other_series_names_both_headers(tmp_path, rh):
    write_run(tmp_path, rh, range(3), series=["hp/lr/g0"])
    with pytest.raises(ValueError, match=r"its header is 'step,hp/lr/g0' but this run records 'step,hp/lr/g1'"):
        write_run(tmp_path, rh, range(3, 5), series=["hp/lr/g1"], resumed_from_step=3)


def test_a_new_run_refuses_a_directory_holding_one(tmp_path, rh):
    write_run(tmp_path, rh, range(3))
    with pytest.raises(ValueError, match="already holds a run; use a new directory, resume"):
        write_run(tmp_path, rh, range(3))
    rec = CsvRecorder(tmp_path, overwrite=True)
    rec.start(rh.make_metadata(["hp/lr/g0"]))
    rec.record(0, {"hp/lr/g0": 0.5})
    rec.close()
    assert read_values(tmp_path) == (["step", "hp/lr/g0"], [(0, {"hp/lr/g0": 0.5})])


def test_values_csv_path_means_its_directory(tmp_path):
    assert CsvRecorder(tmp_path / "values.csv").path == tmp_path
    with pytest.raises(ValueError, match="path must be a run directory"):
        CsvRecorder(tmp_path / "other.csv")
    with pytest.raises(TypeError, match="path must be a directory path"):
        CsvRecorder(3)
    with pytest.raises(ValueError, match="flush_every must be an int >= 1, got flush_every=0"):
        CsvRecorder(tmp_path, flush_every=0)
    with pytest.raises(ValueError, match="on_error must be one of 'warn', 'raise', got on_error='skip'"):
        CsvRecorder(tmp_path, on_error="skip")


def test_unwritable_directory_is_a_recorder_error(tmp_path, rh):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rec = CsvRecorder(blocker / "run")  # a file where a directory must go
    with pytest.raises(RecorderError, match="csv recorder: cannot write the run in"):
        rec.start(rh.make_metadata(["hp/lr/g0"]))


_KILL_SCRIPT = """
import sys, time
from paramsched.recording import CsvRecorder
from paramsched.runformat import FORMAT
series = ["hp/lr/g0", "hp/momentum/g0", "hp/lr/head"]
rec = CsvRecorder(sys.argv[1], flush_every=int(sys.argv[2]))
rec.start({{"format": FORMAT, "series": series, "resumed_from_step": None}})
for step in range({rows}):
    rec.record(step, {{name: (step + 1) / (3.0 + i) for i, name in enumerate(series)}})
print("ready", flush=True)
{tail}
"""


def _kill_after(folder, flush_every, rows, tail="time.sleep(60)"):
    script = textwrap.dedent(_KILL_SCRIPT.format(rows=rows, tail=tail))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(folder), str(flush_every)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _expected(step):
    return {name: (step + 1) / (3.0 + i) for i, name in enumerate(["hp/lr/g0", "hp/momentum/g0", "hp/lr/head"])}


@pytest.mark.slow
@pytest.mark.parametrize(("flush_every", "rows", "kept"), [(100, 1234, 1200), (7, 50, 49), (1, 1234, 1234)])
def test_sigkill_loses_at_most_the_unflushed_rows(tmp_path, flush_every, rows, kept):
    _kill_after(tmp_path, flush_every, rows)
    header, read = read_values(tmp_path)
    assert header == ["step", "hp/lr/g0", "hp/momentum/g0", "hp/lr/head"]
    assert read == [(step, _expected(step)) for step in range(kept)]
    assert json.loads((tmp_path / "run.json").read_text())["series"] == header[1:]


@pytest.mark.slow
def test_sigkill_while_writing_leaves_a_readable_prefix_and_resume_continues(tmp_path, rh):
    tail = """
step = {rows}
while True:
    rec.record(step, {{name: (step + 1) / (3.0 + i) for i, name in enumerate(series)}})
    step += 1
"""
    _kill_after(tmp_path, 3, 10, tail=textwrap.dedent(tail.format(rows=10)))
    text = (tmp_path / "values.csv").read_text()
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    rows = [line.split(",") for line in complete.splitlines()[1:]]
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    assert all(dict(zip(["hp/lr/g0", "hp/momentum/g0", "hp/lr/head"], map(float, r[1:]), strict=True)) == _expected(int(r[0])) for r in rows)
    # Resuming appends cleanly even if the kill cut a row in half.
    series = ["hp/lr/g0", "hp/momentum/g0", "hp/lr/head"]
    rec = CsvRecorder(tmp_path)
    with pytest.warns(RuntimeWarning, match="unfinished row") if not text.endswith("\n") else _nothing():
        rec.start({"format": "paramsched.run/1", "series": series, "resumed_from_step": len(rows)})
    rec.record(len(rows), _expected(len(rows)))
    rec.close()
    _, read = read_values(tmp_path)
    assert read == [(step, _expected(step)) for step in range(len(rows) + 1)]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_partial_last_line_is_dropped_before_resume(tmp_path, rh):
    write_run(tmp_path, rh, range(3), series=["hp/lr/g0"])
    with open(tmp_path / "values.csv", "a") as handle:
        handle.write("3,0.12")  # a row cut in half by a kill
    with pytest.warns(RuntimeWarning, match=r"ended with an unfinished row \(b'3,0.12'\)"):
        write_run(tmp_path, rh, range(3, 5), series=["hp/lr/g0"], resumed_from_step=3)
    _, rows = read_values(tmp_path)
    assert [step for step, _ in rows] == [0, 1, 2, 3, 4]


def test_interpreter_exit_writes_the_buffer(tmp_path):
    script = textwrap.dedent(
        f"""
        from paramsched.recording import CsvRecorder
        rec = CsvRecorder({str(tmp_path)!r}, flush_every=1000)
        rec.start({{"format": "paramsched.run/1", "series": ["hp/lr/g0"], "resumed_from_step": None}})
        for step in range(10):
            rec.record(step, {{"hp/lr/g0": step / 7}})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert read_values(tmp_path)[1] == [(step, {"hp/lr/g0": step / 7}) for step in range(10)]


def _disk_full(rec):
    """Point the recorder's open file at /dev/full: every write now fails with ENOSPC (a real one)."""
    saved = os.dup(rec._fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, rec._fd)
    os.close(full)

    def restore():
        os.dup2(saved, rec._fd)
        os.close(saved)

    return restore


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_warns_once_keeps_rows_and_writes_them_when_the_disk_is_back(tmp_path, rh):
    rec = CsvRecorder(tmp_path, flush_every=10)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = []
    for step in range(15):
        expected.append((step, rh.row_values(step)))
        rec.record(*expected[-1])
    restore = _disk_full(rec)
    with pytest.warns(RuntimeWarning, match="csv recorder: cannot write .*No space left on device.*training goes on") as caught:
        for step in range(15, 200):
            expected.append((step, rh.row_values(step)))
            rec.record(*expected[-1])
    assert len([w for w in caught if "csv recorder" in str(w.message)]) == 1
    restore()
    rec.close()
    assert read_values(tmp_path)[1] == expected


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_at_close_moves_rows_to_a_spool_csv(tmp_path, rh):
    rec = CsvRecorder(tmp_path, flush_every=1000)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = [(step, rh.row_values(step)) for step in range(30)]
    for row in expected:
        rec.record(*row)
    _disk_full(rec)
    with pytest.warns(RuntimeWarning, match=r"30 row\(s\) could not be written to .*; they are in the spool file"):
        rec.close()
    with open(rec.spool_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", *rh.SERIES_12]
    assert [(int(r[0]), dict(zip(rows[0][1:], map(float, r[1:]), strict=True))) for r in rows[1:]] == expected
    rec.spool_path.unlink()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_with_raise(tmp_path, rh):
    rec = CsvRecorder(tmp_path, flush_every=1, on_error="raise")
    rec.start(rh.make_metadata(["hp/lr/g0"]))
    rec.record(0, {"hp/lr/g0": 0.5})
    restore = _disk_full(rec)
    with pytest.raises(RecorderError, match="csv recorder: cannot write .*No space left on device"):
        rec.record(1, {"hp/lr/g0": 0.25})
    restore()
    rec.close()  # the kept row is written now
    assert read_values(tmp_path)[1] == [(0, {"hp/lr/g0": 0.5}), (1, {"hp/lr/g0": 0.25})]
