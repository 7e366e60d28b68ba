"""Replay: read a past run's applied values back into schedules.

>>> import pandas as pd
>>> import paramsched.replay as replay
>>> traj = replay.load(pd.DataFrame({"step": [0, 1, 2], "hp/lr/g0": [0.3, 0.2, 0.1]}))
>>> sched = traj.schedules()[("lr", "g0")]
>>> [sched(k, 3) for k in range(3)]
[0.3, 0.2, 0.1]

``traj.schedules()`` returns ``{(key, group_label): ReplaySchedule}``, the
per-group form of ``ParamScheduler``'s ``schedules`` mapping.
"""

from paramsched.replay.diff import diff
from paramsched.replay.keymaps import KEYMAPS, KeyMap
from paramsched.replay.rebuild import Mismatch, Rebuilt, from_spec, rebuild
from paramsched.replay.sources import SOURCES, Source, load, register_source
from paramsched.replay.trajectory import Trajectory
from paramsched.schedules.replayed import ReplaySchedule

__all__ = [
    "KEYMAPS",
    "SOURCES",
    "KeyMap",
    "Mismatch",
    "Rebuilt",
    "ReplaySchedule",
    "Source",
    "Trajectory",
    "diff",
    "from_spec",
    "load",
    "rebuild",
    "register_source",
]
