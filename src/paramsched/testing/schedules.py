"""One valid example of every registered schedule type, for tests that loop over schedules.

The list of types comes from the schedule registry
(:func:`paramsched.schedules.schedule_types`), so a new schedule type that
has no example here fails every test that uses :func:`schedule_examples`
until one is added: a test cannot silently skip it.

>>> examples = schedule_examples()
>>> examples["Cosine"]
Cosine(start=0.1, end=0.0)
>>> set(examples) == set(ps.schedule_types())
True
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

import torch

import paramsched.schedules as ps
from paramsched.checks import describe

__all__ = ["schedule_examples"]


def _builtin_examples() -> dict[str, ps.Schedule]:
    """Each type of paramsched, with non-default arguments where they change the curve."""
    cosine = ps.Cosine(1.0, 0.0)
    examples = [
        ps.Constant(0.1),
        ps.Linear(0.85, 0.95),
        ps.Cosine(0.1, 0.0),
        ps.Exponential(1e-2, end=1e-5),
        ps.Polynomial(1.0, 0.1, power=2.0),
        ps.Step(0.1, milestones=[30, 0.6], gamma=0.5),
        ps.InverseSqrt(1e-3, warmup=40),
        ps.OneCycle(0.01, pct_start=0.25, shape="linear"),
        ps.PiecewiseLinear([(0, 0.0), (0.1, 1.0), (1.0, 0.0)]),
        ps.WarmupStableDecay(3e-4, warmup=50, decay=0.2, decay_shape="1-sqrt"),
        ps.Sequence([ps.Linear(0.0, 1.0), ps.Cosine(1.0, 0.1)], boundaries=[0.1]),
        ps.Cyclic(cosine, period=25),
        ps.WarmRestarts(cosine, period=0.1, mult=2.0),
        ps.Scale(cosine, 0.5),
        ps.Shift(cosine, 0.1),
        ps.Product(ps.Linear(1.0, 0.0), cosine),
        ps.Sum(ps.Linear(1.0, 0.0), ps.Constant(0.5)),
        ps.Clip(ps.Linear(2.0, -1.0), lo=0.0, hi=1.0),
        ps.Warmup(cosine, steps=10, start=0.1, shape="cosine"),
        ps.WarmupThen(cosine, steps=10),
        ps.TimeShift(ps.Linear(0.0, 1.0), steps=1),
        ps.Tanh(1.0, 0.0),
        ps.Triangular(0.0, 1.0, up=2, mode="triangular2"),
        # torch's own StepLR on a private optimizer; torch is a dependency of paramsched
        ps.from_torch(torch.optim.lr_scheduler.StepLR, step_size=10, gamma=0.5),
        ps.FunctionSchedule(operator.truediv),  # step / total_steps: importable, picklable
        ps.ReplaySchedule([0.3, 0.2, 0.1], steps=[0, 5, 10], gaps="linear", after_end="hold"),
    ]
    return {type(s).__name__: s for s in examples}


def schedule_examples(extra: Mapping[str, ps.Schedule] | None = None) -> dict[str, ps.Schedule]:
    """``{type name: example}`` for every registered schedule type, in registry order.

    ``extra`` gives examples for types registered outside paramsched (a
    plugin's, a test's own); it may also replace a built-in example. A
    registered type with no example is a ``LookupError`` naming it: add the
    example here (a paramsched type) or pass it in ``extra``.

    >>> schedule_examples(extra={"Constant": ps.Constant(2.0)})["Constant"]
    Constant(value=2.0)
    """
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"extra must be a dict of type name to schedule, got extra={describe(extra)}")
    known = _builtin_examples()
    for name, example in (extra or {}).items():
        if type(example).__name__ != name or not isinstance(example, ps.Schedule):
            raise ValueError(
                f"extra[{name!r}] must be an instance of the schedule type {name!r}, got {describe(example)}"
            )
        known[name] = example
    registered = ps.schedule_types()
    missing = [name for name in registered if name not in known]
    if missing:
        raise LookupError(
            f"registered schedule types without an example: {missing}; add one to "
            "paramsched.testing.schedules (a type of paramsched) or pass extra={name: instance}"
        )
    return {name: known[name] for name in registered}
