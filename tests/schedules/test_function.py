"""FunctionSchedule and as_schedule: what the scheduler accepts for a hyperparameter."""

from __future__ import annotations

import functools
import json
import math
import operator
import pickle

import pytest

from paramsched.schedules import (
    Constant,
    Cosine,
    FunctionSchedule,
    Linear,
    Schedule,
    as_schedule,
    schedule_from_spec,
)


def inverse_progress(step: int, total_steps: int) -> float:
    return 1.0 - step / total_steps


class Shapes:
    @staticmethod
    def flat(step: int, total_steps: int) -> float:
        return 0.25


def returns_text(step: int, total_steps: int) -> str:
    return "fast"


def make_closure(scale: float):
    def scaled(step: int, total_steps: int) -> float:
        return scale * step / total_steps

    return scaled


# -- FunctionSchedule ---------------------------------------------------------------------


def test_function_schedule_calls_the_function():
    s = FunctionSchedule(inverse_progress)
    assert s(0, 10) == 1.0 and s(5, 10) == 0.5
    assert type(FunctionSchedule(operator.truediv)(3, 4)) is float
    assert FunctionSchedule(Shapes.flat)(7, 10) == 0.25


def test_function_schedule_spec_stores_an_import_path_and_round_trips():
    s = FunctionSchedule(inverse_progress)
    spec = s.to_spec()
    assert spec == {"type": "FunctionSchedule", "fn": f"{__name__}:inverse_progress"}
    back = schedule_from_spec(json.loads(json.dumps(spec)))
    assert back == s and back.fn is inverse_progress
    nested = FunctionSchedule(Shapes.flat)
    assert nested.to_spec()["fn"] == f"{__name__}:Shapes.flat"
    assert schedule_from_spec(nested.to_spec()) == nested


def test_function_schedule_pickles_by_reference():
    s = FunctionSchedule(inverse_progress) * 2.0
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back(5, 10) == 1.0


def test_function_schedule_accepts_an_import_path_string():
    assert FunctionSchedule("_operator:truediv") == FunctionSchedule(operator.truediv)
    assert FunctionSchedule("math:hypot").fn is math.hypot


def test_function_schedule_repr_is_readable_and_evaluable():
    s = FunctionSchedule(operator.truediv)
    assert repr(s) == "FunctionSchedule(fn='_operator:truediv')"
    assert eval(repr(s), {"FunctionSchedule": FunctionSchedule}) == s


LAMBDA_MESSAGE = (
    r"fn must be picklable: a lambda or closure cannot be saved in a checkpoint; use a "
    r"module-level function or a FunctionSchedule of one, got fn="
)


def test_function_schedule_rejects_a_lambda():
    with pytest.raises(TypeError, match=LAMBDA_MESSAGE + r"test_function_schedule_rejects_a_lambda.<locals>.<lambda>$"):
        FunctionSchedule(lambda step, total: 0.1)


def test_function_schedule_rejects_a_closure_and_a_nested_function():
    with pytest.raises(TypeError, match=LAMBDA_MESSAGE + r"make_closure.<locals>.scaled$"):
        FunctionSchedule(make_closure(2.0))

    def nested(step, total_steps):
        return 0.0

    with pytest.raises(TypeError, match=LAMBDA_MESSAGE + r".*<locals>.nested$"):
        FunctionSchedule(nested)


@pytest.mark.parametrize(
    ("fn", "error", "match"),
    [
        (functools.partial(operator.mul, 0.5), TypeError, r"fn must be picklable by name: a module-level function that 'module:qualname' imports back.*got fn=functools.partial"),
        (Shapes(), TypeError, r"fn must be a Schedule, a spec dict or a picklable callable"),
        (Cosine, TypeError, r"got fn=<class '.*Cosine'>; create one, e.g. Cosine\(...\)"),
        (3.0, TypeError, r"fn must be a Schedule, a spec dict or a picklable callable f\(step, total_steps\), got fn=3.0"),
        ("math.cos", ValueError, r"fn given as a string must be an import path 'module:qualname', got fn='math.cos'"),
        ("os:system; rm", ValueError, r"must be an import path 'module:qualname'"),
        ("paramsched_nowhere:f", ValueError, r"fn='paramsched_nowhere:f' cannot be imported: No module named 'paramsched_nowhere'"),
        ("math:nowhere", ValueError, r"fn='math:nowhere' cannot be imported: module 'math' has no attribute 'nowhere'"),
    ],
)
def test_function_schedule_rejects_what_cannot_be_saved_by_name(fn, error, match):
    with pytest.raises(error, match=match):
        FunctionSchedule(fn)


def test_function_schedule_rejects_a_non_number_result():
    with pytest.raises(TypeError, match=r"fn=.*returns_text must return a real number, got 'fast' at step=3, total_steps=10"):
        FunctionSchedule(returns_text)(3, 10)


# -- as_schedule ----------------------------------------------------------------------------


def test_as_schedule_returns_a_schedule_unchanged():
    s = Cosine(1.0, 0.0)
    assert as_schedule(s, "schedules['lr']") is s


def test_as_schedule_builds_from_a_spec():
    assert as_schedule({"type": "Linear", "start": 1.0, "end": 0.0}, "x") == Linear(1.0, 0.0)


def test_as_schedule_wraps_a_module_level_function():
    s = as_schedule(inverse_progress, "schedules['lr']")
    assert s == FunctionSchedule(inverse_progress) and isinstance(s, Schedule)


@pytest.mark.parametrize(
    ("obj", "error", "match"),
    [
        (0.1, TypeError, r"^schedules\['lr'\] must be a Schedule, a spec dict or a picklable callable f\(step, total_steps\), got schedules\['lr'\]=0.1; a number is not a schedule: use Constant\(0.1\) for a fixed value$"),
        (3, TypeError, r"use Constant\(3\)"),
        (True, TypeError, r"^schedules\['lr'\] must be a Schedule, a spec dict or a picklable callable f\(step, total_steps\), got schedules\['lr'\]=True$"),
        ("cosine", TypeError, r"got schedules\['lr'\]='cosine'$"),
        (None, TypeError, r"got schedules\['lr'\]=None$"),
        ([0.1, 0.2], TypeError, r"got schedules\['lr'\]=\[0.1, 0.2\]$"),
        (lambda step, total: 0.1, TypeError, r"^schedules\['lr'\] must be picklable: a lambda or closure cannot be saved in a checkpoint; use a module-level function or a FunctionSchedule of one, got schedules\['lr'\]=<lambda>$"),
        (make_closure(1.0), TypeError, r"schedules\['lr'\] must be picklable: .*got schedules\['lr'\]=make_closure.<locals>.scaled$"),
        (Cosine, TypeError, r"schedules\['lr'\] must be .*got schedules\['lr'\]=<class .*; create one, e.g. Cosine\(...\)"),
        ({"type": "Nope"}, ValueError, r"^schedules\['lr'\] is not a valid schedule spec: spec type must be one of .*got type='Nope'"),
        ({"type": "Linear", "start": 1.0}, TypeError, r"^schedules\['lr'\] is not a valid schedule spec: .*missing 1 required positional argument: 'end'"),
        ({"type": "Linear", "start": 1.0, "end": "x"}, TypeError, r"schedules\['lr'\] is not a valid schedule spec: end must be a real number, got end='x'"),
        ({"type": "Constant", "value": 1.0, "extra": 2}, ValueError, r"schedules\['lr'\] is not a valid schedule spec: spec for Constant has unknown fields \['extra'\]"),
    ],
)
def test_as_schedule_rejects_with_the_name_in_the_message(obj, error, match):
    with pytest.raises(error, match=match):
        as_schedule(obj, "schedules['lr']")


def test_as_schedule_spec_of_a_function_round_trips():
    spec = FunctionSchedule(inverse_progress).to_spec()
    assert as_schedule(spec, "schedules['lr']")(5, 10) == 0.5


def test_constant_is_the_way_to_a_fixed_value():
    assert as_schedule(Constant(0.1), "x")(3, 10) == 0.1
