"""paramsched-lightning: paramsched inside a Lightning ``Trainer``.

>>> import paramsched as ps
>>> from paramsched_lightning import ParamSchedulerCallback
>>> cb = ParamSchedulerCallback({"lr": ps.Cosine(1e-3, 0.0)}, recorders=["csv:runs/a"])
>>> cb.state_key
"ParamSchedulerCallback{'optimizer': 0}"
"""

from paramsched_lightning.callback import ParamSchedulerCallback
from paramsched_lightning.loggers import LoggerRecorder

__all__ = ["LoggerRecorder", "ParamSchedulerCallback"]
