"""paramsched.testing's helpers: schedule examples from the registry, ListRecorder, spools, docs."""

from __future__ import annotations

import doctest
import json
import os

import pytest

import paramsched.testing as testing_pkg
from paramsched.events import make_event
from paramsched.schedules import Constant, Schedule, _base, schedule_from_spec, schedule_types
from paramsched.testing import (
    AWKWARD_FLOATS,
    ListRecorder,
    awkward_rows,
    backends,
    helpers,
    make_metadata,
    network,
    read_spooled_rows,
    recorders,
    row_values,
    same_floats,
    schedule_examples,
    schedules,
)


def test_schedule_examples_cover_the_registry_with_valid_round_tripping_schedules():
    examples = schedule_examples()
    assert list(examples) == list(schedule_types())
    for name, schedule in examples.items():
        assert type(schedule).__name__ == name
        schedule.validate(100)
        spec = json.loads(json.dumps(schedule.to_spec(), allow_nan=False))
        assert schedule_from_spec(spec, trust_functions=True) == schedule
        assert [schedule_from_spec(spec, trust_functions=True)(k, 100) for k in range(0, 101, 9)] == [
            schedule(k, 100) for k in range(0, 101, 9)
        ]


def test_a_registered_type_without_an_example_fails_loudly(monkeypatch):
    # A registry of the built-in types only, so this test's type goes away after it
    # (and types other work adds meanwhile do not change its message).
    builtin = schedules._builtin_examples()
    monkeypatch.setattr(_base, "_SCHEDULE_TYPES", {n: c for n, c in _base._SCHEDULE_TYPES.items() if n in builtin})

    class Half(Schedule):
        def __call__(self, step, total_steps):
            return 0.5

    with pytest.raises(LookupError, match=r"registered schedule types without an example: \['Half'\]; add one to paramsched.testing.schedules"):
        schedule_examples()
    assert schedule_examples(extra={"Half": Half()})["Half"](3, 10) == 0.5
    with pytest.raises(ValueError, match=r"extra\['Half'\] must be an instance of the schedule type 'Half', got Constant"):
        schedule_examples(extra={"Half": Constant(1.0)})
    with pytest.raises(TypeError, match=r"extra must be a dict of type name to schedule, got extra=\[1\]"):
        schedule_examples(extra=[1])


def test_awkward_rows_give_every_series_every_awkward_value():
    rows = awkward_rows(range(len(AWKWARD_FLOATS)), ["hp/lr/g0", "hp/lr/g1"])
    for name in ("hp/lr/g0", "hp/lr/g1"):
        values = [values[name] for _, values in rows]
        assert all(any(same_floats(v, want) for v in values) for want in AWKWARD_FLOATS)
    assert any(same_floats(v, -0.0) for v in values) and any(same_floats(v, 0.0) for v in values)


def test_make_metadata_is_a_run_document():
    from paramsched.runformat import check_metadata

    doc = make_metadata(["hp/lr/head", "hp/lr/g0"], total_steps=7, resumed_from_step=3, rank=1)
    assert check_metadata(doc) == doc
    assert [g["label"] for g in doc["groups"]] == ["g0", "head"]
    assert (doc["total_steps"], doc["resumed_from_step"], doc["rank"]) == (7, 3, 1)


def test_list_recorder_keeps_everything_and_follows_the_lifecycle():
    rec = ListRecorder()
    assert rec.stores_events and rec.stores_metrics
    with pytest.raises(RuntimeError, match=r"list recorder: record\(\) needs start\(\) first"):
        rec.record(0, {"hp/lr/g0": 0.1})
    rec.start(make_metadata(["hp/lr/g0"]))
    with pytest.raises(RuntimeError, match=r"start\(\) was already called"):
        rec.start(make_metadata(["hp/lr/g0"]))
    event = make_event(1, "intervention", series="hp/lr/g0", before=0.1, after=0.05, time="t")
    rec.record(0, {"hp/lr/g0": 0.1})
    rec.record_event(event)
    rec.record(1, {"hp/lr/g0": 0.05})
    rec.record_metrics(1, {"loss": 0.5})
    rec.record(1, {"hp/lr/g0": 0.04})
    rec.close()
    rec.close()
    with pytest.raises(RuntimeError, match=r"list recorder: record_event\(\) needs start\(\) first and must come before close\(\)"):
        rec.record_event(event)
    assert rec.rows == [(0, {"hp/lr/g0": 0.1}), (1, {"hp/lr/g0": 0.05}), (1, {"hp/lr/g0": 0.04})]
    assert rec.values() == {0: {"hp/lr/g0": 0.1}, 1: {"hp/lr/g0": 0.04}}
    traj = rec.trajectory()
    assert traj.frame["hp/lr/g0"].tolist() == [0.1, 0.04]
    assert traj.notes and "step 1" in traj.notes[0]
    assert list(traj.events) == [event]
    assert traj.metrics["loss"].tolist() == [0.5]
    bad = ListRecorder()
    bad.start({})
    with pytest.raises(ValueError, match=r"list recorder: event kind must be one of .*, got kind='typo'"):
        bad.record_event({"step": 0, "kind": "typo"})


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_read_spooled_rows_reads_the_csv_spool(tmp_path):
    from paramsched.recording import CsvRecorder
    from paramsched.testing import CsvBackend

    backend = CsvBackend(tmp_path, flush_every=1000)
    rec = backend.make_recorder()
    rec.start(make_metadata(["hp/lr/g0", "hp/lr/g1"]))
    rows = awkward_rows(range(20), ["hp/lr/g0", "hp/lr/g1"])
    for row in rows:
        rec.record(*row)
    backend.outage(rec)  # still full at close: the rows go to the spool
    with pytest.warns(RuntimeWarning, match=r"20 row\(s\) could not be written .* spool file"):
        rec.close()
    assert isinstance(rec, CsvRecorder) and rec.spool_path is not None
    try:
        spooled = read_spooled_rows(rec)
        assert [step for step, _ in spooled] == list(range(20))
        assert all(same_floats(spooled[k][1][n], rows[k][1][n]) for k in range(20) for n in rows[k][1])
    finally:
        rec.spool_path.unlink()
    assert read_spooled_rows(ListRecorder()) == []
    assert row_values(0, []) == {}


@pytest.mark.parametrize(
    "module", [testing_pkg, helpers, recorders, schedules, backends, network], ids=lambda m: m.__name__
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
