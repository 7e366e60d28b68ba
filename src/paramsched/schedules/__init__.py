"""Pure schedules: ``schedule(step, total_steps) -> float``, frozen, picklable, with specs.

>>> from paramsched.schedules import Cosine, WarmupStableDecay, schedule_from_spec
>>> s = WarmupStableDecay(1.0, warmup=10, decay=20) * 0.5
>>> s(50, 100)
0.5
>>> schedule_from_spec(s.to_spec()) == s
True
"""

from paramsched.schedules._base import (
    DurationWarning,
    Schedule,
    UntrustedFunctionError,
    schedule_from_spec,
    schedule_types,
)
from paramsched.schedules.composition import (
    Clip,
    Cyclic,
    Product,
    Scale,
    Sequence,
    Shift,
    Sum,
    TimeShift,
    WarmRestarts,
    Warmup,
    WarmupThen,
)
from paramsched.schedules.function import FunctionSchedule, as_schedule
from paramsched.schedules.peers import PeerSchedule, from_hf, from_timm, from_torch
from paramsched.schedules.presets import (
    Constant,
    Cosine,
    Exponential,
    InverseSqrt,
    Linear,
    OneCycle,
    PiecewiseLinear,
    Polynomial,
    Step,
    Tanh,
    Triangular,
    WarmupStableDecay,
)
from paramsched.schedules.replayed import ReplaySchedule

__all__ = [
    "Clip",
    "Constant",
    "Cosine",
    "Cyclic",
    "DurationWarning",
    "Exponential",
    "FunctionSchedule",
    "InverseSqrt",
    "Linear",
    "OneCycle",
    "PeerSchedule",
    "PiecewiseLinear",
    "Polynomial",
    "Product",
    "ReplaySchedule",
    "Scale",
    "Schedule",
    "Sequence",
    "Shift",
    "Step",
    "Sum",
    "Tanh",
    "TimeShift",
    "Triangular",
    "UntrustedFunctionError",
    "WarmRestarts",
    "Warmup",
    "WarmupStableDecay",
    "WarmupThen",
    "as_schedule",
    "from_hf",
    "from_timm",
    "from_torch",
    "schedule_from_spec",
    "schedule_types",
]
