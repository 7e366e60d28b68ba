"""``python -m paramsched_mlflow._store_process URI``: one recorder's ``log_batch`` calls, in a process of their own.

MLflow's SQL stores spend about 0.4 ms of CPU per metric inside SQLAlchemy
(mlflow 3.17, sqlite). The recorder's worker thread shares the GIL with
training, so every charted point would cost the training loop that much; in
a child process it costs another core instead. The child opens its own
``MlflowClient(URI)`` and answers one request at a time over its pipes:

- stdin, one JSON line per request: ``{"run_id": ..., "metrics": [{"key",
  "value", "timestamp", "step"}, ...]}``, or ``{"exit": true}``;
- stdout: ``{"ready": true}`` once MLflow is imported, then one JSON line per
  request: ``{"ok": true}`` or ``{"ok": false, "error": "Type: message"}``.

It ends at ``{"exit": true}`` or when stdin closes (the recorder's process
ended). It prints nothing else: MLflow's INFO lines about creating a new
database's tables are silenced, as in the recorder.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from typing import IO, Any


def serve(uri: str, requests: IO[str], replies: IO[str]) -> None:
    """Answer ``log_batch`` requests for the store at ``uri`` until told to exit or ``requests`` ends."""
    warnings.simplefilter("ignore")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from paramsched.checks import describe_error  # the recorders' one-line form of an error

    client = MlflowClient(tracking_uri=uri)
    _reply(replies, {"ready": True})
    for line in requests:
        if not line.strip():
            continue
        try:
            request: Any = json.loads(line)
            if request.get("exit"):
                return
            metrics = [Metric(m["key"], float(m["value"]), int(m["timestamp"]), int(m["step"]))
                       for m in request["metrics"]]
            client.log_batch(request["run_id"], metrics=metrics, synchronous=True)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the recorder, which spools
            _reply(replies, {"ok": False, "error": describe_error(exc)})
        else:
            _reply(replies, {"ok": True})


def _reply(replies: IO[str], message: dict[str, Any]) -> None:
    replies.write(json.dumps(message) + "\n")
    replies.flush()


if __name__ == "__main__":
    replies, sys.stdout = sys.stdout, sys.stderr  # nothing MLflow prints can break the replies
    serve(sys.argv[1], sys.stdin, replies)
