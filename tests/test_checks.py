"""The shared argument checks (paramsched.checks): numpy numbers are numbers, bools are not."""

from __future__ import annotations

import numpy as np
import pytest

import paramsched as ps
from paramsched.checks import check_positive_int, check_real


def test_numpy_reals_are_reals_and_come_back_as_python_floats():
    for value in (np.int64(3), np.float32(0.5), np.float64(0.25), 7, 0.125):
        checked = check_real("start", value)
        assert type(checked) is float and checked == float(value)
    assert ps.Cosine(np.int64(1), 0).to_spec() == {"type": "Cosine", "start": 1.0, "end": 0.0}


def test_numpy_integers_are_step_counts_and_come_back_as_python_ints():
    checked = check_positive_int("period", np.int64(5))
    assert type(checked) is int and checked == 5


@pytest.mark.parametrize("value", [True, np.bool_(True), "1", None, [1.0]])
def test_bools_and_non_numbers_are_not_reals(value):
    with pytest.raises(TypeError, match=r"start must be a real number, got start="):
        check_real("start", value)


@pytest.mark.parametrize("value", [float("nan"), np.float64("inf")])
def test_non_finite_reals_are_refused(value):
    with pytest.raises(ValueError, match=r"start must be finite, got start="):
        check_real("start", value)


@pytest.mark.parametrize("value, error", [(np.float64(2.0), TypeError), (True, TypeError), (np.int64(0), ValueError)])
def test_step_counts_must_be_integers_at_least_the_minimum(value, error):
    with pytest.raises(error, match=r"period must be an int >= 1, got period="):
        check_positive_int("period", value)
