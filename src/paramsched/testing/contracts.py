"""The contract suites: pytest test classes that a backend's test module subclasses.

Every recorder and every replay source of paramsched runs these, and so can
any third-party backend. Subclass, give a ``backend`` fixture that returns a
fresh adapter (:mod:`paramsched.testing.backends`) for each test, and pytest
runs every contract test against it::

    import pytest
    from paramsched.testing import CsvBackend, RecorderContract, SourceContract

    class TestCsvRecorder(RecorderContract):
        @pytest.fixture
        def backend(self, tmp_path):
            return CsvBackend(tmp_path / "run", flush_every=7)

    class TestCsvSource(SourceContract):
        @pytest.fixture
        def backend(self, tmp_path):
            return CsvBackend(tmp_path / "run")

A case the backend does not meet yet is marked in the subclass with
:func:`known_failure` (a strict xfail: it turns into a failure the day it
passes); a case that does not apply is set to ``None``::

    class TestMine(RecorderContract):
        test_resume_stores_each_step_once = known_failure(
            RecorderContract.test_resume_stores_each_step_once, "issue 42: resumed rows are appended")
        test_flush_makes_everything_readable = None  # say why in a comment

Tests that need an optional capability (``outage``, ``cut_last_row``,
events, metrics, rows as stored) are skipped, with the reason, when the
adapter or the recorder says it lacks it. This module imports pytest; the
rest of :mod:`paramsched.testing` does not.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from paramsched.events import make_event, supersede
from paramsched.testing.backends import RecorderBackend, SourceBackend
from paramsched.testing.helpers import (
    AWKWARD_FLOATS,
    CONTRACT_SERIES,
    Row,
    awkward_rows,
    make_metadata,
    metrics_rows,
    row_values,
    same_floats,
    trajectory_rows,
)

__all__ = ["RecorderContract", "SourceContract", "known_failure"]

_TIME = "2026-11-27T01:00:00+00:00"


def known_failure(case: Callable[..., None], reason: str) -> Callable[..., None]:
    """``case`` (a contract test) as a strict xfail for one subclass: ``reason`` names the
    issue; the test fails as soon as the backend meets the contract.

    It wraps the case instead of marking it, because a mark on the inherited
    function would reach every other subclass of the contract too.
    """
    if not callable(case) or not getattr(case, "__name__", "").startswith("test_"):
        raise TypeError(f"case must be a contract test method (test_...), got case={case!r}")
    if not isinstance(reason, str) or not reason:
        raise TypeError(f"reason must be a non-empty string naming the issue, got reason={reason!r}")

    @functools.wraps(case)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        case(self, *args, **kwargs)

    return pytest.mark.xfail(strict=True, reason=reason)(wrapper)


def _assert_rows_equal(got: list[Row], expected: list[Row], *, signed_zeros: bool, what: str) -> None:
    """``==`` row by row (steps, series, values), and the sign of zeros when the backend keeps it."""
    got_steps, want_steps = [s for s, _ in got], [s for s, _ in expected]
    assert got_steps == want_steps, f"{what}: steps differ: got {_span(got_steps)}, expected {_span(want_steps)}"
    for (step, values), (_, want) in zip(got, expected, strict=True):
        assert values == want, f"{what}: step {step} differs: got {values}, expected {want}"
        if signed_zeros:
            flipped = [name for name in want if not same_floats(values[name], want[name])]
            assert not flipped, f"{what}: step {step}: the sign of zero was lost in {flipped}"


def _span(steps: Sequence[int]) -> str:
    if len(steps) > 8:
        return f"{len(steps)} steps {list(steps[:4])}...{list(steps[-2:])}"
    return str(list(steps))


def _names_step(notes: Sequence[str], step: int) -> bool:
    """True when a note names ``step`` (as a number of its own, not inside ``g0`` or ``1.5``)."""
    pattern = re.compile(rf"(?<![\w.]){step}(?![\w.])")
    return any(pattern.search(note) for note in notes)


def _assert_metadata_kept(loaded: dict[str, Any] | None, metadata: dict[str, Any]) -> None:
    assert loaded is not None, "the run metadata did not come back (set stores_metadata = False if it is not kept)"
    kept = {key: loaded.get(key) for key in metadata}
    assert kept == metadata, f"the run metadata changed on the way: got {kept}, expected {metadata}"


def _events(series: str) -> list[dict[str, Any]]:
    spec = {"type": "Constant", "value": 0.05}
    return [
        make_event(3, "intervention", series=series, before=0.1, after=0.05, spec=spec, reason="loss spike", time=_TIME),
        make_event(5, "drift", series=series, before=0.05, after=1e-300, reason="", time=_TIME),
        make_event(8, "policy", series=series, before=0.05, after=0.025, spec=spec, reason="plateau", time=_TIME),
    ]


def _metrics() -> dict[int, dict[str, float]]:
    return {0: {"loss": 2.5, "val_loss": 0.1 + 0.2}, 4: {"loss": 1 / 3}, 9: {"loss": 5e-324, "val_loss": 1e22}}


class RecorderContract:
    """What every recorder guarantees, checked against its own backend.

    Subclass it (the name must start with ``Test``) and define a ``backend``
    fixture returning a fresh :class:`~paramsched.testing.RecorderBackend`
    per test. ``series`` (class attribute) are the series recorded.

    - exact floats: every value reads back ``==`` (and ``-0.0`` keeps its
      sign unless the adapter says ``keeps_negative_zero = False``), and the
      run metadata comes back unchanged;
    - every series at every step, in the metadata's column order;
    - ``flush()`` makes everything recorded so far readable;
    - resume: a second recorder resuming at step ``r`` wins from ``r`` on,
      each step is read once, and (when the adapter lists stored rows) is
      stored once;
    - ``close()`` is idempotent, a context manager closes, ``record()``
      before ``start()`` is a ``RuntimeError``;
    - an outage (when the adapter can cause one) warns and loses nothing:
      each value ends up in the backend after recovery or in the spool;
    - events and training metrics round-trip when the recorder says
      ``stores_events`` / ``stores_metrics``.
    """

    series: Sequence[str] = CONTRACT_SERIES

    @pytest.fixture
    def backend(self) -> RecorderBackend:
        raise NotImplementedError(
            f"{type(self).__name__} must define a `backend` fixture returning a "
            "paramsched.testing.RecorderBackend for one run (see paramsched.testing.contracts)"
        )

    def _record(self, rec: Any, rows: Sequence[Row]) -> None:
        for step, values in rows:
            rec.record(step, values)

    # -- values ---------------------------------------------------------------------

    def test_values_read_back_exactly(self, backend: RecorderBackend) -> None:
        metadata = make_metadata(self.series, total_steps=2 * len(AWKWARD_FLOATS))
        rows = awkward_rows(range(2 * len(AWKWARD_FLOATS)), self.series)
        rec = backend.make_recorder()
        rec.start(metadata)
        self._record(rec, rows)
        rec.close()
        traj = backend.load()
        _assert_rows_equal(trajectory_rows(traj), rows, signed_zeros=backend.keeps_negative_zero, what=traj.source)
        if backend.stores_metadata:
            _assert_metadata_kept(traj.metadata, metadata)

    def test_every_series_at_every_step(self, backend: RecorderBackend) -> None:
        steps = 250  # more than one buffer or batch of the built-in recorders
        rows = [(step, row_values(step, self.series)) for step in range(steps)]
        rec = backend.make_recorder()
        rec.start(make_metadata(self.series, total_steps=steps))
        self._record(rec, rows)
        rec.close()
        traj = backend.load()
        if backend.stores_metadata:  # the metadata's column order can be restored
            assert list(traj.frame.columns) == list(self.series)
        assert sorted(traj.frame.columns) == sorted(self.series)
        assert not traj.frame.isna().to_numpy().any(), "some series miss some steps"
        _assert_rows_equal(trajectory_rows(traj), rows, signed_zeros=True, what=traj.source)

    def test_flush_makes_everything_readable(self, backend: RecorderBackend) -> None:
        if not backend.readable_before_close:
            pytest.skip(f"{type(backend).__name__}.readable_before_close is False")
        rows = [(step, row_values(step, self.series)) for step in range(10)]
        rec = backend.make_recorder()
        rec.start(make_metadata(self.series))
        self._record(rec, rows)
        rec.flush()
        try:
            _assert_rows_equal(trajectory_rows(backend.load()), rows, signed_zeros=True, what="after flush()")
        finally:
            rec.close()

    # -- resume ---------------------------------------------------------------------

    def _resumed_run(self, backend: RecorderBackend, *, events: bool = False) -> tuple[list[Row], int]:
        """A run recorded up to step 29, resumed from a checkpoint at step 20 up to step 39."""
        total, crash, resume = 40, 30, 20
        first_rows = [(step, row_values(step, self.series)) for step in range(crash)]
        second_rows = [(step, {n: v * 2 for n, v in row_values(step, self.series).items()}) for step in range(resume, total)]
        first = backend.make_recorder()
        first.start(make_metadata(self.series, total_steps=total))
        if events:
            first.record_event(make_event(4, "intervention", series=self.series[0], after=0.5, time=_TIME))
            first.record_event(make_event(25, "intervention", series=self.series[0], after=0.25, time=_TIME))
        self._record(first, first_rows)
        first.close()
        second = backend.make_recorder(resume=True)
        second.start(make_metadata(self.series, total_steps=total, resumed_from_step=resume))
        if events:
            second.record_event(make_event(resume, "resume", time=_TIME))
        self._record(second, second_rows)
        second.close()
        return first_rows[:resume] + second_rows, resume

    def test_resume_keeps_the_resumed_values(self, backend: RecorderBackend) -> None:
        expected, resume = self._resumed_run(backend)
        traj = backend.load()
        _assert_rows_equal(trajectory_rows(traj), expected, signed_zeros=True, what=f"{traj.source} after a resume")
        if backend.stores_metadata:
            assert traj.metadata is not None
            assert traj.metadata.get("resumed_from_step") is None, "the original metadata document must be kept"
            assert [entry.get("at_step") for entry in traj.metadata.get("resumes", [])] == [resume]

    def test_resume_stores_each_step_once(self, backend: RecorderBackend) -> None:
        if not backend.can_list_rows:
            pytest.skip(f"{type(backend).__name__}.stored_rows() is not implemented")
        expected, _ = self._resumed_run(backend)
        stored = backend.stored_rows()
        assert stored is not None
        steps = [step for step, _ in stored]
        twice = sorted({s for s in steps if steps.count(s) > 1})
        assert not twice, f"steps stored more than once after a resume: {_span(twice)}"
        _assert_rows_equal(sorted(stored, key=lambda row: row[0]), expected, signed_zeros=True, what="stored rows")

    # -- lifecycle ------------------------------------------------------------------

    def test_close_is_idempotent(self, backend: RecorderBackend) -> None:
        rows = [(0, row_values(0, self.series))]
        rec = backend.make_recorder()
        with rec:
            rec.start(make_metadata(self.series))
            self._record(rec, rows)
        rec.close()  # a second close after the context manager's
        _assert_rows_equal(trajectory_rows(backend.load()), rows, signed_zeros=True, what="after close() twice")
        backend.make_recorder().close()  # never started: nothing to do, no error

    def test_record_before_start_is_an_error(self, backend: RecorderBackend) -> None:
        rec = backend.make_recorder()
        with pytest.raises(RuntimeError, match="start"):
            rec.record(0, row_values(0, self.series))
        rec.close()

    # -- failure --------------------------------------------------------------------

    def test_outage_loses_nothing(self, backend: RecorderBackend) -> None:
        if not backend.can_fail:
            pytest.skip(f"{type(backend).__name__} cannot cause an outage (no outage())")
        rows = [(step, row_values(step, self.series)) for step in range(30)]
        rec = backend.make_recorder()
        rec.start(make_metadata(self.series, total_steps=len(rows)))
        self._record(rec, rows[:10])
        rec.flush()
        backend.outage(rec)
        # The warning may come from any later call (a worker thread notices the failure
        # and the training thread says so), so watch everything up to close().
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._record(rec, rows[10:20])
            rec.flush()  # the default on_error="warn": training goes on
            backend.restore(rec)
            self._record(rec, rows[20:])
            rec.close()
        said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert said, "an outage must warn (on_error='warn'), got no RuntimeWarning"
        stored = dict(trajectory_rows(backend.load()))
        spooled = dict(backend.spooled_rows(rec))
        expected = dict(rows)
        lost = [step for step in expected if step not in stored and step not in spooled]
        assert not lost, f"steps neither in the backend nor in the spool after the outage: {_span(lost)}"
        for where, found in (("backend", stored), ("spool", spooled)):
            wrong = [step for step, values in found.items() if expected.get(step) != values]
            assert not wrong, f"steps in the {where} with other values than recorded: {_span(wrong)}"

    # -- events and metrics -----------------------------------------------------------

    def _skip_unless(self, rec: Any, flag: str) -> None:
        if not getattr(rec, flag, False):
            pytest.skip(f"{type(rec).__name__}.{flag} is False")

    def test_events_read_back(self, backend: RecorderBackend) -> None:
        rec = backend.make_recorder()
        self._skip_unless(rec, "stores_events")
        events = _events(self.series[0])
        rec.start(make_metadata(self.series, total_steps=10))
        for step in range(10):
            for event in events:
                if event["step"] == step:
                    rec.record_event(event)
            rec.record(step, row_values(step, self.series))
        rec.close()
        assert list(backend.load().events) == events

    def test_events_of_a_resumed_run_drop_the_lost_part(self, backend: RecorderBackend) -> None:
        rec = backend.make_recorder()
        rec.close()  # never started: only its flag is read
        self._skip_unless(rec, "stores_events")
        self._resumed_run(backend, events=True)
        kept = [(e["step"], e["kind"]) for e in backend.load().events]
        assert kept == [(4, "intervention"), (20, "resume")]

    def test_metrics_read_back(self, backend: RecorderBackend) -> None:
        rec = backend.make_recorder()
        self._skip_unless(rec, "stores_metrics")
        metrics = _metrics()
        rec.start(make_metadata(self.series, total_steps=10))
        for step in range(10):
            rec.record(step, row_values(step, self.series))
            if step in metrics:
                rec.record_metrics(step, metrics[step])
        rec.close()
        assert metrics_rows(backend.load().metrics) == metrics


class SourceContract:
    """What every replay source guarantees when it reads its backend's logs.

    Subclass it (the name must start with ``Test``) and define a ``backend``
    fixture returning a fresh :class:`~paramsched.testing.SourceBackend`.

    - ``load`` gives ``==`` values (signs of zeros included) and the metadata,
      with no notes for a clean log;
    - a step logged twice keeps its last row, and a note names the step;
    - missing steps stay missing (nothing is invented) and a note names the first;
    - a log cut inside its last row (when the adapter can cut one) loads
      the rows before it, with a note;
    - events (superseded ones dropped) and training metrics read back when
      the adapter says the log holds them.
    """

    series: Sequence[str] = CONTRACT_SERIES

    @pytest.fixture
    def backend(self) -> SourceBackend:
        raise NotImplementedError(
            f"{type(self).__name__} must define a `backend` fixture returning a "
            "paramsched.testing.SourceBackend (see paramsched.testing.contracts)"
        )

    def test_load_gives_equal_values(self, backend: SourceBackend) -> None:
        rows = awkward_rows(range(2 * len(AWKWARD_FLOATS)), self.series)
        metadata = make_metadata(self.series, total_steps=len(rows))
        backend.write(rows, metadata)
        traj = backend.load()
        _assert_rows_equal(trajectory_rows(traj), rows, signed_zeros=backend.keeps_negative_zero, what=traj.source)
        if backend.stores_metadata:
            assert list(traj.frame.columns) == list(self.series)
        assert traj.notes == (), f"a clean log gets no notes, got {traj.notes}"
        if backend.stores_metadata:
            _assert_metadata_kept(traj.metadata, metadata)

    def test_duplicate_steps_keep_the_last_row_with_a_note(self, backend: SourceBackend) -> None:
        first = [(step, row_values(step, self.series)) for step in range(20)]
        again = [(step, {n: -v for n, v in row_values(step, self.series).items()}) for step in range(13, 24)]
        backend.write(first + again, make_metadata(self.series, total_steps=24))
        traj = backend.load()
        _assert_rows_equal(trajectory_rows(traj), first[:13] + again, signed_zeros=True, what=traj.source)
        assert _names_step(traj.notes, 13), f"no note names the first duplicated step 13: {traj.notes}"

    def test_missing_steps_are_noted(self, backend: SourceBackend) -> None:
        rows = [(step, row_values(step, self.series)) for step in range(24) if step not in (17, 18)]
        backend.write(rows, make_metadata(self.series, total_steps=24))
        traj = backend.load()
        _assert_rows_equal(trajectory_rows(traj), rows, signed_zeros=True, what=traj.source)
        assert _names_step(traj.notes, 17), f"no note names the first missing step 17: {traj.notes}"

    def test_unfinished_last_row_is_left_out_with_a_note(self, backend: SourceBackend) -> None:
        if not backend.can_cut:
            pytest.skip(f"{type(backend).__name__} cannot cut a log (no cut_last_row())")
        rows = [(step, row_values(step, self.series)) for step in range(12)]
        backend.write(rows, make_metadata(self.series, total_steps=12))
        backend.cut_last_row()
        traj = backend.load()
        _assert_rows_equal(trajectory_rows(traj), rows[:-1], signed_zeros=True, what=traj.source)
        assert traj.notes, "a log cut inside its last row loads with a note saying so"

    def test_events_read_back(self, backend: SourceBackend) -> None:
        if not backend.stores_events:
            pytest.skip(f"{type(backend).__name__}.stores_events is False")
        events = [*_events(self.series[0]), make_event(6, "resume", time=_TIME)]
        rows = [(step, row_values(step, self.series)) for step in range(10)]
        backend.write(rows, make_metadata(self.series, total_steps=10), events=events)
        loaded = list(backend.load().events)
        assert loaded == supersede(events)
        assert [e["kind"] for e in loaded] == ["intervention", "drift", "resume"]  # policy at 8 was lost

    def test_metrics_read_back(self, backend: SourceBackend) -> None:
        if not backend.stores_metrics:
            pytest.skip(f"{type(backend).__name__}.stores_metrics is False")
        metrics = _metrics()
        rows = [(step, row_values(step, self.series)) for step in range(10)]
        backend.write(rows, make_metadata(self.series, total_steps=10), metrics=metrics)
        assert metrics_rows(backend.load().metrics) == metrics
