"""Weights & Biases for paramsched: a recorder and a replay source.

- :class:`WandbRecorder` logs every applied value (``recorders=["wandb"]``)
  without ever moving your own W&B step (``step_mode="own"`` or ``"merge"``).
- :class:`WandbSource` reads runs back: offline run directories without a
  server, or ``"wandb://entity/project/run_id"`` through ``wandb.Api()``.
- :func:`read_offline_run` decodes a ``run-<id>.wandb`` file on its own.

``import paramsched_wandb`` does not import wandb; the SDK is loaded on first use.

>>> import paramsched as ps                                        # doctest: +SKIP
>>> from paramsched_wandb import WandbRecorder
>>> rec = WandbRecorder(project="demo", mode="offline")
>>> traj = ps.replay.load("wandb/latest-run")                      # doctest: +SKIP
"""

from .reader import OfflineRun, is_finished, iter_records, read_offline_run
from .recorder import STEP_MODES, WandbRecorder
from .source import WandbSource, parse_wandb_uri

__all__ = [
    "OfflineRun",
    "STEP_MODES",
    "WandbRecorder",
    "WandbSource",
    "is_finished",
    "iter_records",
    "parse_wandb_uri",
    "read_offline_run",
]
