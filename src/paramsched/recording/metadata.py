"""The run metadata document stored with every recorded run.

It is plain JSON, written by the CSV recorder as ``run.json``, by the W&B
recorder into ``wandb.config["paramsched"]`` and by the MLflow recorder as
params plus the ``paramsched/run.json`` artifact. It never holds environment
variables or credentials. Replay reads it back to rebuild the schedules.

Fields::

    {
      "format": "paramsched.run/1",
      "paramsched_version": "0.1.0",
      "created_at": "2026-11-27T01:00:00+00:00",   # UTC, ISO 8601
      "total_steps": 1000,
      "optimizer": "torch.optim.adamw.AdamW",       # module.qualname of the class
      "relative": false,                            # True: values = base * schedule
      "schedules": {"lr": {...spec...}},            # global schedules, by key
      "overrides": {"head": {"lr": {...spec...}}},  # by group label
      "groups": [{"index": 0, "label": "g0", "base": {"lr": 0.001}}],
      "series": ["hp/lr/g0", ...],                  # every series, in column order
      "rank": 0, "world_size": 1,
      "record_ranks": "zero",                       # "all": every rank records its own run
      "resumed_from_step": null                     # int when the scheduler was resumed
    }
"""

from __future__ import annotations

import datetime
from typing import Any

FORMAT = "paramsched.run/1"


def utc_now() -> str:
    """The current UTC time as ISO 8601 text."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_metadata(metadata: Any) -> dict[str, Any]:
    """Raise unless ``metadata`` looks like a run metadata document."""
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        got = metadata.get("format") if isinstance(metadata, dict) else type(metadata).__name__
        raise ValueError(f"run metadata must have format={FORMAT!r}, got {got!r}")
    return metadata
