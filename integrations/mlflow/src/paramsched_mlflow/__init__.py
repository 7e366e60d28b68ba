"""paramsched-mlflow: record every applied value to MLflow, and replay MLflow runs.

>>> from paramsched_mlflow import MlflowRecorder, MlflowSource
>>> MlflowRecorder.name, MlflowSource.name
('mlflow', 'mlflow')

``recorders=["mlflow"]`` and ``paramsched.replay.load("mlflow://RUN_ID")``
find these through the entry points ``paramsched.recorders`` /
``paramsched.sources``. ``mlflow`` itself is imported only when a recorder
starts or a source loads.
"""

from paramsched_mlflow.recorder import ARTIFACT_PATH, MlflowRecorder, metadata_params
from paramsched_mlflow.source import MlflowSource

__all__ = ["ARTIFACT_PATH", "MlflowRecorder", "MlflowSource", "metadata_params"]
