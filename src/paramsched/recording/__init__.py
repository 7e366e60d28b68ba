"""Recorders: every applied value, per series, per step, to CSV, W&B, MLflow, ...

``recorders=["csv:runs/a", "mlflow"]`` resolves through :data:`RECORDERS`;
:class:`FanOut` lets the scheduler hold one recorder for all of them.
"""

from paramsched.naming import STEP_SERIES, group_label, parse_series_name, series_name

from .background import BackgroundRecorder, default_spool_dir, read_spool
from .base import Recorder, RunMetadata
from .csv import CsvRecorder
from .errors import RecorderError
from .fanout import FanOut
from .registry import RECORDERS, register_recorder, resolve_recorder

__all__ = [
    "RECORDERS",
    "STEP_SERIES",
    "BackgroundRecorder",
    "CsvRecorder",
    "FanOut",
    "Recorder",
    "RecorderError",
    "RunMetadata",
    "default_spool_dir",
    "group_label",
    "parse_series_name",
    "read_spool",
    "register_recorder",
    "resolve_recorder",
    "series_name",
]
