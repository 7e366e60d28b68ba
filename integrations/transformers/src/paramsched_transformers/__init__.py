"""paramsched-transformers: schedule any hyperparameter of a Hugging Face ``Trainer`` run.

>>> import torch, paramsched as ps
>>> from paramsched_transformers import ParamSchedulerCallback, create_optimizer_and_scheduler
>>> opt, lr_sched = create_optimizer_and_scheduler(torch.nn.Linear(2, 1), {"lr": ps.Cosine(1e-3, 0.0)}, 100)
>>> # Trainer(model, args, optimizers=(opt, lr_sched), callbacks=[ParamSchedulerCallback()])
"""

from paramsched_transformers.callback import ParamSchedulerCallback, find_param_scheduler
from paramsched_transformers.optim import create_optimizer_and_scheduler, decay_param_groups

__all__ = [
    "ParamSchedulerCallback",
    "create_optimizer_and_scheduler",
    "decay_param_groups",
    "find_param_scheduler",
]
