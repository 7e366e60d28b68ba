"""paramsched in a real Hugging Face Trainer on CPU (tiny model, no downloads)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import TrainerCallback

import paramsched as ps
from paramsched.recording.base import Recorder
from paramsched.torch_adapter import ParamSchedulerLR
from paramsched_transformers import (
    ParamSchedulerCallback,
    create_optimizer_and_scheduler,
    decay_param_groups,
    find_param_scheduler,
)

_spec = importlib.util.spec_from_file_location("_hf_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

TOTAL = 12
SCHEDULES = {
    "lr": ps.WarmupStableDecay(1e-2, warmup=2, decay=0.5),
    "weight_decay": ps.Cosine(0.1, 0.0),
    "betas.0": ps.Linear(0.85, 0.95),
}
OVERRIDES = {"no_decay": {"weight_decay": ps.Constant(0.0)}}


class ListRecorder(Recorder):
    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []

    def start(self, metadata: Mapping[str, Any]) -> None:
        pass

    def record(self, step: int, values: Mapping[str, float]) -> None:
        self.rows.append((step, dict(values)))

    def close(self) -> None:
        pass


def _build(recorders: list) -> tuple[torch.nn.Module, torch.optim.Optimizer, ParamSchedulerLR, list]:
    model = helpers.TinyRegressor()
    opt, lr_sched = create_optimizer_and_scheduler(
        model, SCHEDULES, TOTAL, param_groups=decay_param_groups(model), overrides=OVERRIDES, recorders=recorders
    )
    applied: list = []
    opt.register_step_pre_hook(
        lambda o, a, k: applied.append([(g["lr"], g["weight_decay"], g["betas"][0]) for g in o.param_groups])
    )
    return model, opt, lr_sched, applied


def _expected(sched: ps.ParamScheduler, k: int) -> list:
    v = sched.values_at(k)
    return [(v[f"hp/lr/{g}"], v[f"hp/weight_decay/{g}"], v[f"hp/betas.0/{g}"]) for g in ("decay", "no_decay")]


def test_the_trainer_steps_the_scheduler_once_per_update_with_gradient_accumulation(tmp_path):
    rec = ListRecorder()
    model, opt, lr_sched, applied = _build([rec])
    cb = ParamSchedulerCallback()
    trainer = helpers.make_trainer(tmp_path, (opt, lr_sched), [cb], model=model, save_strategy="no")
    trainer.train()

    sched = lr_sched.scheduler
    assert cb.scheduler is sched
    assert sched.current_step == TOTAL and len(applied) == TOTAL  # 48 micro-batches, 12 updates
    assert [k for k, _ in rec.rows] == list(range(TOTAL))
    for k in range(TOTAL):
        assert applied[k] == _expected(sched, k)
        assert rec.rows[k][1] == sched.values_at(k)
    assert applied[0][1][1] == 0.0  # no weight decay on biases and LayerNorm
    # HF logs the lr of the update that just finished (group 0), at global step k + 1
    logged = {e["step"]: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e}
    assert sorted(logged) == list(range(1, TOTAL + 1))
    assert all(logged[s] == sched.values_at(s - 1)["hp/lr/decay"] for s in logged)


class _CrashAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            raise RuntimeError("simulated crash")


def _history(trainer: Any) -> list[dict]:
    return [e for e in trainer.state.log_history if "loss" in e]


def test_resume_from_a_checkpoint_directory_is_exact(tmp_path):
    model, opt, lr_sched, applied = _build([f"csv:{tmp_path / 'straight-values'}"])
    straight = helpers.make_trainer(tmp_path / "straight", (opt, lr_sched), [ParamSchedulerCallback()], model=model)
    straight.train()
    straight_weights = {k: v.clone() for k, v in model.state_dict().items()}

    model, opt, lr_sched, _ = _build([f"csv:{tmp_path / 'values'}"])
    crashed = helpers.make_trainer(
        tmp_path / "crashed", (opt, lr_sched), [ParamSchedulerCallback(), _CrashAt(6)], model=model
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.train()
    lr_sched.close()  # what a dying process leaves: the rows recorded so far

    model, opt, lr_sched, resumed_applied = _build([f"csv:{tmp_path / 'values'}"])
    resumed = helpers.make_trainer(tmp_path / "crashed", (opt, lr_sched), [ParamSchedulerCallback()], model=model)
    resumed.train(resume_from_checkpoint=str(tmp_path / "crashed" / "checkpoint-4"))

    assert lr_sched.scheduler.current_step == TOTAL
    assert resumed_applied == applied[4:]
    for name, value in model.state_dict().items():
        assert torch.equal(value, straight_weights[name]), name
    assert _history(resumed) == _history(straight)  # loss, grad_norm, learning_rate: every logged step
    a = ps.replay.load(tmp_path / "straight-values")
    b = ps.replay.load(tmp_path / "values")
    assert b.frame.equals(a.frame)
    assert [r["at_step"] for r in b.metadata["resumes"]] == [4]


def test_the_callback_refuses_a_trainer_without_our_scheduler(tmp_path):
    trainer = helpers.make_trainer(tmp_path, (None, None), [ParamSchedulerCallback()], save_strategy="no")
    with pytest.raises(ValueError, match="the Trainer's lr scheduler is LambdaLR, not a paramsched one"):
        trainer.train()


def test_the_callback_warns_when_total_steps_differs_from_max_steps(tmp_path):
    model, opt, lr_sched, _ = _build([])
    trainer = helpers.make_trainer(tmp_path, (opt, lr_sched), [ParamSchedulerCallback()], model=model, max_steps=2, save_strategy="no")
    with pytest.warns(ps.ScheduleWarning, match="total_steps=12 but the Trainer will run max_steps=2"):
        trainer.train()
    assert lr_sched.scheduler.current_step == 2


def test_find_param_scheduler_unwraps_accelerate():
    from accelerate.scheduler import AcceleratedScheduler

    model = helpers.TinyRegressor()
    opt, lr_sched = create_optimizer_and_scheduler(model, {"lr": ps.Constant(1e-3)}, 4)
    assert find_param_scheduler(AcceleratedScheduler(lr_sched, opt)) is lr_sched.scheduler
    assert find_param_scheduler(torch.optim.lr_scheduler.StepLR(opt, 1)) is None


def test_default_param_groups_and_optimizer_kwargs():
    model = helpers.TinyRegressor()
    opt, lr_sched = create_optimizer_and_scheduler(
        model, {"momentum": ps.Linear(0.8, 0.9)}, 4, optimizer_cls=torch.optim.SGD, lr=0.05
    )
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups) == 1
    assert opt.param_groups[0]["momentum"] == 0.8 and lr_sched.get_last_lr() == [0.05]
    assert lr_sched.scheduler.series == ["hp/momentum/g0"]


def test_decay_param_groups_splits_weights_from_biases_and_norms():
    groups = decay_param_groups(helpers.TinyRegressor())
    assert [g["name"] for g in groups] == ["decay", "no_decay"]
    assert [tuple(p.shape) for p in groups[0]["params"]] == [(8, 4), (1, 8)]
    assert [tuple(p.shape) for p in groups[1]["params"]] == [(8,), (8,), (8,), (1,)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "bert"}, TypeError, "model must be a torch.nn.Module, got model='bert'"),
        ({"optimizer_cls": dict}, TypeError, "optimizer_cls must be a torch.optim.Optimizer subclass"),
        ({"param_groups": {"params": []}}, TypeError, "param_groups must be a list of dicts with a 'params' entry"),
        ({"total_steps": 0}, ValueError, "total_steps must be an int >= 1, got total_steps=0"),
        ({"schedules": {"lrr": ps.Constant(1.0)}}, ValueError, "lrr"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"model": helpers.TinyRegressor(), "schedules": {"lr": ps.Constant(1e-3)}, "total_steps": 4, **kwargs}
    with pytest.raises(error, match=match):
        create_optimizer_and_scheduler(**args)
    with pytest.raises(TypeError, match="check_total_steps must be True or False"):
        ParamSchedulerCallback(check_total_steps=1)
