"""Spools as first-class artefacts: read as a Trajectory, listed and sent (once) by the CLI.

The backend is a real TCP sink on 127.0.0.1 (tests/recording/conftest.py),
stopped to make the recorder spool, started again to deliver.
"""

from __future__ import annotations

import json
import warnings

import pytest

import paramsched.replay as replay
from paramsched.cli import main
from paramsched.events import make_event, supersede
from paramsched.recording import register_recorder
from paramsched.recording.background import read_spool_file, resend_spool
from paramsched.replay.sources.spool import SpoolSource

_TIME = "2026-11-27T01:00:00+00:00"


@pytest.fixture
def spool_recorder(rh):
    """A TCP recorder that keeps events and metrics and can re-send its spool (registered by name)."""

    class TcpSpoolRecorder(rh.TcpRecorder):
        name = "tcpspool"
        stores_events = True
        stores_metrics = True

        def _send_events(self, events):
            self._send([(event["step"], {"__event__": json.dumps(event)}) for event in events])

        def _send_metrics(self, rows, times_ms):
            self._send([(step, {f"__metric__/{k}": v for k, v in values.items()}) for step, values in rows])

        def _spool_target(self):
            return {"port": self.port}

        def destination(self):
            return f"tcpspool://127.0.0.1:{self.port}"

        @classmethod
        def spool_destination(cls, target):
            return f"tcpspool://127.0.0.1:{target.get('port')}"

        @classmethod
        def from_spool_target(cls, target, to, *, spool_dir, close_timeout):
            port = int(to.rsplit(":", 1)[1]) if to else int(target["port"])
            return cls(port, on_error="raise", spool_dir=spool_dir, close_timeout=close_timeout)

    register_recorder("tcpspool", TcpSpoolRecorder, replace=True)
    return TcpSpoolRecorder


def _events(series):
    return [
        make_event(3, "intervention", series=series, before=0.1, after=0.05,
                   spec={"type": "Constant", "value": 0.05}, reason="loss spike", time=_TIME),
        make_event(30, "drift", series=series, before=0.05, after=1e-300, time=_TIME),
        make_event(20, "resume", time=_TIME),
    ]


def _spooled_run(recorder, rh, tmp_path, *, steps=40):
    """A run recorded while the backend is down: everything ends in the spool."""
    rec = recorder
    rows = [(step, rh.row_values(step)) for step in range(steps)]
    events = _events(rh.SERIES_12[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec.start(rh.make_metadata(rh.SERIES_12, total_steps=steps))
        for step, values in rows:
            rec.record(step, values)
            if step == 5:
                for event in events:
                    rec.record_event(event)
            if step % 10 == 0:
                rec.record_metrics(step, {"loss": 1 / (step + 3), "val_loss": 0.1 + 0.2})
        rec.close()
    said = " | ".join(str(w.message) for w in caught)
    return rows, events, said


def test_a_spool_loads_as_a_trajectory_with_its_events_metrics_and_a_note(spool_recorder, rh, tmp_path):
    sink = rh.TcpSink()
    sink.start()
    port = sink.port
    sink.stop()  # down for the whole run
    rec = spool_recorder(port, spool_dir=tmp_path, retry_interval=0.05, close_timeout=0.2)
    rows, events, said = _spooled_run(rec, rh, tmp_path)
    path = rec.spool_path
    assert f"paramsched spool send {path}" in said  # the warning says which command sends it
    traj = replay.load(path)  # found by the spool source: no option needed
    assert traj.frame.index.tolist() == list(range(40))
    for name in rh.SERIES_12:
        assert traj.frame[name].tolist() == [values[name] for _, values in rows]  # exact
    assert traj.metadata == rh.make_metadata(rh.SERIES_12, total_steps=40) | {"created_at": traj.metadata["created_at"]}
    assert list(traj.events) == supersede(events)  # the drift at 30 was made void by the resume at 20
    assert traj.metrics.index.tolist() == [0, 10, 20, 30]
    assert traj.metrics["loss"].tolist() == [1 / 3, 1 / 13, 1 / 23, 1 / 33]
    assert traj.notes[0].startswith("spool of the tcpspool recorder: 40 row(s) (steps 0..39), 3 event(s)")
    assert f"send them with: paramsched spool send {path}" in traj.notes[0]
    assert replay.load(f"spool://{path}").frame.equals(traj.frame)


def test_spool_send_delivers_everything_once(spool_recorder, rh, tmp_path, capsys):
    sink = rh.TcpSink()
    sink.start()
    port = sink.port
    sink.stop()
    rec = spool_recorder(port, spool_dir=tmp_path, retry_interval=0.05, close_timeout=0.2)
    rows, events, _ = _spooled_run(rec, rh, tmp_path)
    path = str(rec.spool_path)

    assert main(["spool", "list", "--dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert f"tcpspool -> tcpspool://127.0.0.1:{port}; 40 rows, 3 events, 4 metrics rows" in listed
    assert f"waiting: paramsched spool send {path}" in listed

    sink.start()  # same port: the tracker is back
    try:
        assert main(["spool", "send", path]) == 0
        assert f"sent {path}: 40 rows, 3 events, 4 metrics rows to tcpspool://127.0.0.1:{port}" in capsys.readouterr().out
        received = sink.received()
        assert [r for r in received if "__event__" not in r[1] and not any(k.startswith("__metric__") for k in r[1])] == rows
        sent_events = [json.loads(v["__event__"]) for _, v in received if "__event__" in v]
        assert sent_events == events  # in the order recorded; the source applies supersede
        assert main(["spool", "send", path]) == 0  # twice: nothing is sent twice
        out = capsys.readouterr().out
        assert "nothing sent from" in out and f"already delivered to tcpspool://127.0.0.1:{port}" in out
        assert len(sink.received()) == len(received)
    finally:
        sink.stop()
    assert read_spool_file(path).delivered["rows"] == 40
    assert main(["spool", "list", "--dir", str(tmp_path)]) == 0
    assert "delivered to tcpspool://127.0.0.1" in capsys.readouterr().out


def test_a_failed_send_leaves_the_spool_as_it_was(spool_recorder, rh, tmp_path, capsys):
    sink = rh.TcpSink()
    sink.start()
    port = sink.port
    sink.stop()
    rec = spool_recorder(port, spool_dir=tmp_path, retry_interval=0.05, close_timeout=0.2)
    _spooled_run(rec, rh, tmp_path, steps=5)
    before = rec.spool_path.read_text()
    assert main(["spool", "send", str(rec.spool_path), "--timeout", "0.3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"paramsched: error: could not send {rec.spool_path}: tcpspool recorder:")
    assert "the spool is unchanged" in err and "Traceback" not in err
    assert rec.spool_path.read_text() == before


def test_send_to_another_destination(spool_recorder, rh, tmp_path):
    down = rh.TcpSink()
    down.start()
    port = down.port
    down.stop()
    rec = spool_recorder(port, spool_dir=tmp_path, retry_interval=0.05, close_timeout=0.2)
    rows, _, _ = _spooled_run(rec, rh, tmp_path, steps=7)
    other = rh.TcpSink()
    other.start()
    try:
        result = resend_spool(rec.spool_path, f"tcpspool://127.0.0.1:{other.port}")
        assert result["sent"] and result["to"] == f"tcpspool://127.0.0.1:{other.port}"
        assert [r for r in other.received() if set(r[1]) == set(rh.SERIES_12)] == rows
    finally:
        other.stop()


def test_a_backend_that_cannot_resend_says_how_to_read_its_spool(rh, tmp_path, capsys):
    sink = rh.TcpSink()
    sink.start()
    port = sink.port
    sink.stop()
    rec = rh.TcpRecorder(port, spool_dir=tmp_path, retry_interval=0.05, close_timeout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec.start(rh.make_metadata(rh.SERIES_12))
        rec.record(0, rh.row_values(0))
        rec.close()
    register_recorder("tcp", type(rec), replace=True)
    assert main(["spool", "send", str(rec.spool_path)]) == 2
    assert "the tcp recorder cannot re-send spools; read the values with paramsched.replay.load(" in capsys.readouterr().err
    assert replay.load(rec.spool_path).frame.loc[0, "hp/lr/g0"] == rh.row_values(0)["hp/lr/g0"]


def test_what_the_spool_source_claims(tmp_path):
    source = SpoolSource()
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(make_event(0, "resume", time=_TIME)) + "\n")
    legacy = tmp_path / "old.jsonl"  # a spool written before the header had a format name
    legacy.write_text('{"metadata": {"total_steps": 3}}\n{"step": 0, "values": {"hp/lr/g0": 0.1}}\n')
    assert not source.claims(events) and not source.claims(str(tmp_path)) and not source.claims("mlflow://x")
    assert source.claims(legacy) and source.claims(f"spool://{legacy}")
    assert replay.load(legacy).frame["hp/lr/g0"].tolist() == [0.1]
    with pytest.raises(FileNotFoundError, match="no spool at"):
        source.load(tmp_path / "missing.jsonl")
