"""paramsched: schedule any PyTorch optimizer hyperparameter, record it, replay it.

>>> import torch, paramsched as ps
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
>>> sched = ps.ParamScheduler(opt, {"lr": ps.Cosine(0.1, 0.0),
...                                 "momentum": ps.Linear(0.85, 0.95)}, total_steps=100)
>>> sched.current()[("lr", "g0")]
0.1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from paramsched._registry import BackendNotInstalledError
from paramsched._version import __version__
from paramsched.branching import Branch, branch
from paramsched.schedules import (
    Clip,
    Constant,
    Cosine,
    Cyclic,
    DurationWarning,
    Exponential,
    FunctionSchedule,
    InverseSqrt,
    Linear,
    OneCycle,
    PeerSchedule,
    PiecewiseLinear,
    Polynomial,
    Product,
    Scale,
    Schedule,
    Sequence,
    Shift,
    Step,
    Sum,
    Tanh,
    TimeShift,
    Triangular,
    WarmRestarts,
    Warmup,
    WarmupStableDecay,
    WarmupThen,
    from_hf,
    from_timm,
    from_torch,
    schedule_from_spec,
)
from paramsched.simulate import simulate

if TYPE_CHECKING:
    from paramsched.scheduler import (
        DriftError,
        DriftWarning,
        ParamScheduler,
        ScheduleEndedError,
        ScheduleWarning,
    )
    from paramsched.torch_adapter import ParamSchedulerLR

# The runtime imports torch (about 1.7 s): it loads on first use, so that the
# `paramsched` command reads, compares and exports runs without torch.
_RUNTIME = {
    "DriftError": "paramsched.scheduler",
    "DriftWarning": "paramsched.scheduler",
    "ParamScheduler": "paramsched.scheduler",
    "ScheduleEndedError": "paramsched.scheduler",
    "ScheduleWarning": "paramsched.scheduler",
    "ParamSchedulerLR": "paramsched.torch_adapter",
}

_SUBPACKAGES = ("replay", "dashboard", "recording", "policies", "control")

__all__ = [
    "BackendNotInstalledError",
    "Branch",
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
    "ParamScheduler",
    "ParamSchedulerLR",
    "PeerSchedule",
    "PiecewiseLinear",
    "Polynomial",
    "Product",
    "Scale",
    "Schedule",
    "ScheduleEndedError",
    "ScheduleWarning",
    "DriftError",
    "DriftWarning",
    "Sequence",
    "Shift",
    "Step",
    "Sum",
    "Tanh",
    "TimeShift",
    "Triangular",
    "WarmRestarts",
    "Warmup",
    "WarmupStableDecay",
    "WarmupThen",
    "__version__",
    "branch",
    "from_hf",
    "from_timm",
    "from_torch",
    "schedule_from_spec",
    "simulate",
    *_SUBPACKAGES,
]


def __getattr__(name: str) -> Any:
    # Subpackages load on first use: `import paramsched` stays light.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"paramsched.{name}")
    if name in _RUNTIME:
        value = getattr(importlib.import_module(_RUNTIME[name]), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    raise AttributeError(f"module 'paramsched' has no attribute {name!r}")
