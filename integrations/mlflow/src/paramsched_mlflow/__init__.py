"""paramsched-mlflow: record every applied value to MLflow, and replay MLflow runs.

>>> from paramsched_mlflow import MlflowRecorder, MlflowSource
>>> MlflowRecorder.name, MlflowSource.name
('mlflow', 'mlflow')

``recorders=["mlflow"]`` and ``paramsched.replay.load("mlflow://RUN_ID")``
find these through the entry points ``paramsched.recorders`` /
``paramsched.sources``. ``mlflow`` itself is imported only when a recorder
opens its run (on the recorder's worker thread) or a source loads.
"""

from paramsched_mlflow.recorder import (
    ARTIFACT_PATH,
    EVENTS_PATH,
    VALUES_DIR,
    MlflowRecorder,
    metadata_params,
)
from paramsched_mlflow.source import MlflowSource

__all__ = ["ARTIFACT_PATH", "EVENTS_PATH", "VALUES_DIR", "MlflowRecorder", "MlflowSource", "metadata_params"]
