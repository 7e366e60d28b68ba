"""The contract suites themselves: the in-memory reference passes them, broken backends fail them."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from paramsched.testing import (
    ListBackend,
    ListRecorder,
    RecorderContract,
    SourceContract,
    known_failure,
)


class TestListBackendRecorder(RecorderContract):
    @pytest.fixture
    def backend(self):
        return ListBackend()


class TestListBackendSource(SourceContract):
    @pytest.fixture
    def backend(self):
        return ListBackend()



def test_known_failure_marks_one_subclass_only():
    marked = known_failure(RecorderContract.test_resume_stores_each_step_once, "issue 0: example")
    assert [m.kwargs for m in marked.pytestmark] == [{"strict": True, "reason": "issue 0: example"}]
    assert not hasattr(RecorderContract.test_resume_stores_each_step_once, "pytestmark")
    with pytest.raises(TypeError, match="case must be a contract test method"):
        known_failure(RecorderContract.backend, "issue 0")
    with pytest.raises(TypeError, match="reason must be a non-empty string naming the issue"):
        known_failure(RecorderContract.test_values_read_back_exactly, "")


def test_importing_paramsched_testing_does_not_import_pytest():
    code = "import sys, paramsched, paramsched.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


# -- broken backends: each contract case must catch its defect ---------------------------


class _Rounding(ListRecorder):
    def record(self, step, values):
        super().record(step, {k: float(f"{v:.12g}") for k, v in values.items()})


class _LosesSignOfZero(ListRecorder):
    def record(self, step, values):
        super().record(step, {k: v + 0.0 for k, v in values.items()})  # -0.0 + 0.0 == 0.0


class _DropsTheLastRow(ListRecorder):
    def close(self):
        if not self.closed and self.rows:
            self.rows.pop()
        super().close()


class _NoLifecycle(ListRecorder):
    def record(self, step, values):
        self.rows.append((step, dict(values)))


class _Broken(ListBackend):
    def __init__(self, recorder_class, **flags):
        super().__init__()
        self.recorder_class = recorder_class
        vars(self).update(flags)

    def make_recorder(self, *, resume=False):
        super().make_recorder(resume=resume)
        self.recorders[-1] = self.recorder_class()
        return self.recorders[-1]


class _AppendsOnResume(ListBackend):
    def stored_rows(self):
        return [row for rec in self.recorders for row in rec.rows]


class _LosesValuesWhenDown(ListBackend):
    """Warns during an outage, but neither stores nor spools what it gets meanwhile."""

    def outage(self, recorder):
        def record(step, values):
            warnings.warn("backend down", RuntimeWarning, stacklevel=2)

        recorder.record = record

    def restore(self, recorder):
        del recorder.record


class _SilentWhenDown(ListBackend):
    def outage(self, recorder):
        pass

    def restore(self, recorder):
        pass


@pytest.mark.parametrize(
    ("backend", "case", "match"),
    [
        (_Broken(_Rounding), "test_values_read_back_exactly", r"step 0 differs"),
        (_Broken(_LosesSignOfZero), "test_values_read_back_exactly", r"the sign of zero was lost in"),
        (_Broken(_DropsTheLastRow), "test_every_series_at_every_step", r"steps differ: got 249 steps"),
        (_Broken(_NoLifecycle), "test_record_before_start_is_an_error", r"DID NOT RAISE"),
        (_AppendsOnResume(), "test_resume_stores_each_step_once", r"steps stored more than once after a resume: 10 steps \[20, 21, 22, 23\]"),
        (_LosesValuesWhenDown(), "test_outage_loses_nothing", r"neither in the backend nor in the spool after the outage: 10 steps \[10, 11"),
        (_SilentWhenDown(), "test_outage_loses_nothing", r"an outage must warn"),
    ],
    ids=lambda x: x if isinstance(x, str) else type(x).__name__,
)
def test_the_recorder_contract_catches_a_broken_backend(backend, case, match):
    with pytest.raises((AssertionError, pytest.fail.Exception), match=match):
        getattr(RecorderContract(), case)(backend)


def test_a_backend_that_declares_it_loses_the_sign_of_zero_passes():
    RecorderContract().test_values_read_back_exactly(_Broken(_LosesSignOfZero, keeps_negative_zero=False))


class _ReorderingSource(ListBackend):
    """Reads back the first row of a duplicated step, and says nothing."""

    def load(self):
        from paramsched.testing import rows_trajectory

        rows = {}
        for step, values in self.recorders[-1].rows:
            rows.setdefault(step, values)
        return rows_trajectory(sorted(rows.items()), self.recorders[-1].metadata, "first wins")


def test_the_source_contract_catches_a_source_keeping_the_first_row():
    with pytest.raises(AssertionError, match="step 13 differs"):
        SourceContract().test_duplicate_steps_keep_the_last_row_with_a_note(_ReorderingSource())
