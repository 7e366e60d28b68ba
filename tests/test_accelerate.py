"""A ParamScheduler through Accelerate (CPU, one process): one advance per real optimizer update.

``accelerator.prepare`` wraps an ``LRScheduler`` in an ``AcceleratedScheduler``,
which skips ``step()`` during gradient accumulation and after a skipped update,
and otherwise calls the wrapped ``step()`` ``num_processes`` times (with the
default ``split_batches=False``). The adapter (``sched.as_lr_scheduler()``)
advances at most once per real update, so it is right either way; the
2-process case runs in tests/test_distributed.py. A ParamScheduler itself is
not an LRScheduler: ``prepare`` hands it back unchanged, and with
``attach=True`` it follows the optimizer on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import paramsched as ps
from paramsched.testing import ListRecorder

accelerate = pytest.importorskip("accelerate")
from accelerate import Accelerator  # noqa: E402
from accelerate.scheduler import AcceleratedScheduler  # noqa: E402
from accelerate.state import AcceleratorState, GradientState  # noqa: E402

BATCHES = 8
ACCUMULATE = 2
UPDATES = BATCHES // ACCUMULATE
SCHEDULES = {"lr": ps.Linear(0.1, 0.01), "momentum": ps.Cosine(0.9, 0.5)}


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    # Accelerate keeps process-wide singletons; every test builds its own Accelerator.
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _setup(**sched_kwargs: Any):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    applied: list = []
    opt.register_step_pre_hook(lambda o, a, k: applied.append((o.param_groups[0]["lr"], o.param_groups[0]["momentum"])))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(BATCHES * 2, 3)), batch_size=2)
    rec = ListRecorder()
    sched = ps.ParamScheduler(opt, SCHEDULES, UPDATES, recorders=[rec], **sched_kwargs)
    return model, opt, data, sched, rec, applied


def _train(accelerator: Accelerator, model, opt, data, lr_sched=None, manual=None, limit=None) -> None:
    for i, (x,) in enumerate(data):
        if limit is not None and i >= limit:
            break
        with accelerator.accumulate(model):
            accelerator.backward(model(x).pow(2).mean())
            opt.step()
            if lr_sched is not None:
                lr_sched.step()
            if manual is not None:
                manual.step()
            opt.zero_grad()


def _check(sched: ps.ParamScheduler, rec: ListRecorder, applied: list) -> None:
    assert sched.current_step == UPDATES and len(applied) == UPDATES
    assert [k for k, _ in rec.rows] == list(range(UPDATES))
    for k, values in rec.rows:
        assert values == sched.values_at(k)
        assert applied[k] == (values["hp/lr/g0"], values["hp/momentum/g0"])


def test_the_prepared_adapter_advances_once_per_real_update():
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE)
    model, opt, data, sched, rec, applied = _setup()
    model, opt, data, lr_sched = accelerator.prepare(model, opt, data, sched.as_lr_scheduler())
    assert isinstance(lr_sched, AcceleratedScheduler)
    _train(accelerator, model, opt, data, lr_sched=lr_sched)
    _check(sched, rec, applied)
    assert lr_sched.get_last_lr() == [sched.values_at(UPDATES)["hp/lr/g0"]]


def test_an_attached_scheduler_passes_through_prepare_unchanged():
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE)
    model, opt, data, sched, rec, applied = _setup(attach=True)
    model, opt, data, same = accelerator.prepare(model, opt, data, sched)
    assert same is sched
    _train(accelerator, model, opt, data)
    _check(sched, rec, applied)


def test_stepping_a_detached_scheduler_by_hand_counts_micro_batches():
    # Why the two ways above: sched.step() after every micro-batch ignores
    # that the AcceleratedOptimizer skipped the update.
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE)
    model, opt, data, sched, rec, applied = _setup(after_end="warn")
    model, opt, data = accelerator.prepare(model, opt, data)
    with pytest.warns(ps.ScheduleWarning, match="past the end of the schedule"):
        _train(accelerator, model, opt, data, manual=sched)
    assert len(applied) == UPDATES and sched.current_step == BATCHES


@pytest.mark.parametrize("attach", [False, True])
def test_save_state_and_load_state_resume_the_schedule(tmp_path, attach):
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE)
    model, opt, data, sched, rec, applied = _setup(attach=attach)
    if attach:
        accelerator.register_for_checkpointing(sched)
        model, opt, data = accelerator.prepare(model, opt, data)
        lr_sched = None
    else:
        model, opt, data, lr_sched = accelerator.prepare(model, opt, data, sched.as_lr_scheduler())
    _train(accelerator, model, opt, data, lr_sched=lr_sched, limit=4)
    assert sched.current_step == 2
    accelerator.save_state(str(tmp_path / "state"))
    expected = sched.current_series()

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE)
    model, opt, data, sched, rec, applied = _setup(attach=attach)
    if attach:
        accelerator.register_for_checkpointing(sched)
        model, opt, data = accelerator.prepare(model, opt, data)
    else:
        model, opt, data, lr_sched = accelerator.prepare(model, opt, data, sched.as_lr_scheduler())
    accelerator.load_state(str(tmp_path / "state"))
    assert sched.current_step == 2 and sched.current_series() == expected
    assert opt.param_groups[0]["lr"] == expected["hp/lr/g0"]


def test_attach_on_the_prepared_optimizer_hooks_the_torch_optimizer_inside():
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(BATCHES * 2, 3)), batch_size=2)
    model, prepared, data = accelerator.prepare(model, opt, data)
    assert prepared is not opt
    sched = ps.ParamScheduler(prepared, SCHEDULES, UPDATES, attach=True)
    _train(accelerator, model, prepared, data)
    assert sched.current_step == UPDATES
    assert opt.param_groups[0]["lr"] == sched.values_at(UPDATES)["hp/lr/g0"]
