"""`ParamSchedulerLR`: a torch LRScheduler that drives a ParamScheduler, as frameworks expect."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import LRScheduler

import paramsched as ps
from paramsched.torch_adapter import ParamSchedulerLR

TOTAL = 10
SCHEDULES = {"lr": ps.WarmupStableDecay(0.1, warmup=3, decay=0.4), "betas.0": ps.Linear(0.85, 0.95)}


def _build(**kwargs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    opt = torch.optim.AdamW(
        [{"params": model[0].parameters(), "name": "body"}, {"params": model[1].parameters(), "name": "head", "lr": 0.5}],
        lr=1e-3,
    )
    sched = ps.ParamScheduler(opt, SCHEDULES, TOTAL, overrides={"head": {"lr": ps.Constant(0.02)}}, **kwargs)
    return model, opt, sched


def _update(model, opt):
    opt.zero_grad()
    model(torch.ones(2, 3)).sum().backward()
    opt.step()


def _groups(opt):
    return [{k: v for k, v in g.items() if k not in ("params", "initial_lr")} for g in opt.param_groups]


def test_is_an_lr_scheduler_and_keeps_the_step_zero_values():
    model, opt, sched = _build()
    before = _groups(opt)
    lr_sched = sched.as_lr_scheduler()
    assert isinstance(lr_sched, LRScheduler) and isinstance(lr_sched, ParamSchedulerLR)
    assert _groups(opt) == before  # LRScheduler.__init__'s initial step changed nothing
    assert sched.current_step == 0 and lr_sched.last_epoch == 0
    assert lr_sched.get_last_lr() == [0.0, 0.02] == lr_sched.get_lr()  # warmup starts at 0
    assert [g["initial_lr"] for g in opt.param_groups] == [0.0, 0.02]  # what every torch scheduler adds
    assert lr_sched.base_lrs == [0.0, 0.02]


def test_stepping_it_gives_the_values_of_a_plain_paramscheduler_loop():
    model, opt, sched = _build()
    plain = [(sched.current_series(), _groups(opt))]
    for _ in range(TOTAL):
        _update(model, opt)
        sched.step()
        plain.append((sched.current_series(), _groups(opt)))

    model, opt, sched = _build()
    lr_sched = sched.as_lr_scheduler()
    adapted = [(sched.current_series(), _groups(opt))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torch warning about the call order
        for k in range(TOTAL):
            _update(model, opt)
            lr_sched.step()
            adapted.append((sched.current_series(), _groups(opt)))
            assert lr_sched.last_epoch == k + 1
            assert lr_sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert adapted == plain


def test_extra_step_calls_without_an_update_do_not_advance():
    # Accelerate's AcceleratedScheduler calls step() once per process for each update.
    model, opt, sched = _build()
    lr_sched = sched.as_lr_scheduler()
    lr_sched.step()  # nothing to follow yet
    assert sched.current_step == 0
    for k in range(3):
        _update(model, opt)
        lr_sched.step()
        lr_sched.step()
        assert sched.current_step == k + 1


def test_follow_calls_advances_on_every_call():
    model, opt, sched = _build()
    lr_sched = ParamSchedulerLR(sched, follow="calls")
    lr_sched.step()
    lr_sched.step()
    assert sched.current_step == 2 and lr_sched.get_last_lr() == [g["lr"] for g in opt.param_groups]


def test_an_update_skipped_by_a_grad_scaler_does_not_advance():
    model, opt, sched = _build()
    lr_sched = sched.as_lr_scheduler()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
    for bad in (False, True, False):
        opt.zero_grad()
        scaler.scale(model(torch.ones(2, 3)).sum()).backward()
        if bad:
            model[0].weight.grad.fill_(float("inf"))
        scaler.step(opt)
        scaler.update()
        lr_sched.step()
    assert sched.current_step == 2


def test_several_updates_per_step_call_warn():
    model, opt, sched = _build()
    lr_sched = sched.as_lr_scheduler()
    _update(model, opt)
    _update(model, opt)
    with pytest.warns(ps.ScheduleWarning, match="2 optimizer updates happened since the last lr_scheduler.step"):
        lr_sched.step()
    assert sched.current_step == 1


def test_an_attached_scheduler_is_not_advanced_twice():
    model, opt, sched = _build(attach=True)
    lr_sched = sched.as_lr_scheduler()
    for k in range(3):
        _update(model, opt)
        lr_sched.step()
        assert sched.current_step == k + 1 and lr_sched.last_epoch == k + 1


def test_state_dict_round_trip_through_torch_save_weights_only():
    model, opt, sched = _build()
    lr_sched = sched.as_lr_scheduler()
    for _ in range(4):
        _update(model, opt)
        lr_sched.step()
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": lr_sched.state_dict()}, buffer)
    expected = (sched.current_series(), _groups(opt), lr_sched.get_last_lr())

    model, opt, sched = _build()
    lr_sched = sched.as_lr_scheduler()
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # what HF / Lightning use
    opt.load_state_dict(saved["opt"])
    lr_sched.load_state_dict(saved["sched"])
    assert sched.current_step == 4 and lr_sched.last_epoch == 4
    assert (sched.current_series(), _groups(opt), lr_sched.get_last_lr()) == expected
    assert lr_sched.state_dict()["step_count"] == saved["sched"]["step_count"]
    _update(model, opt)
    lr_sched.step()  # the counter of updates restarts cleanly
    assert sched.current_step == 5


def test_load_state_dict_accepts_a_paramscheduler_state():
    model, opt, sched = _build()
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    _, _, fresh = _build()
    lr_sched = fresh.as_lr_scheduler()
    lr_sched.load_state_dict(state)
    assert fresh.current_step == 3 and lr_sched.last_epoch == 3


def test_a_tensor_lr_is_returned_as_a_copy():
    model, opt, sched = _build(tensors=True)
    lr_sched = sched.as_lr_scheduler()
    last = lr_sched.get_last_lr()
    assert all(isinstance(v, torch.Tensor) for v in last)
    last[0].fill_(123.0)
    assert float(opt.param_groups[0]["lr"]) == 0.0


class _Wrapper(torch.optim.Optimizer):
    """Like Accelerate's AcceleratedOptimizer: an Optimizer subclass that skips Optimizer.__init__."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def step(self, closure=None):
        return self.optimizer.step(closure)

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none)


def test_wrapped_optimizers_are_followed():
    model, opt, _ = _build()
    wrapped = _Wrapper(opt)
    sched = ps.ParamScheduler(wrapped, {"lr": ps.Linear(0.1, 0.0)}, TOTAL)
    lr_sched = sched.as_lr_scheduler()
    assert lr_sched.optimizer is opt
    _update(model, wrapped)
    lr_sched.step()
    assert sched.current_step == 1 and opt.param_groups[0]["lr"] == sched.values_at(1)["hp/lr/body"]


def test_bad_arguments():
    model, opt, sched = _build()
    with pytest.raises(TypeError, match=r"scheduler must be a paramsched.ParamScheduler .*, got a AdamW: scheduler=AdamW \($"):
        ParamSchedulerLR(opt)
    with pytest.raises(ValueError, match="follow must be one of 'optimizer', 'calls', got follow='epoch'"):
        ParamSchedulerLR(sched, follow="epoch")
    lr_sched = sched.as_lr_scheduler()
    with pytest.raises(TypeError, match="takes no epoch"):
        lr_sched.step(3)
    with pytest.raises(ValueError, match="state_dict must come from ParamSchedulerLR.state_dict"):
        lr_sched.load_state_dict({"last_epoch": 3})


def test_close_detaches_and_closes_the_scheduler(tmp_path):
    model, opt, sched = _build(recorders=[f"csv:{tmp_path / 'run'}"])
    lr_sched = sched.as_lr_scheduler()
    _update(model, opt)
    lr_sched.step()
    lr_sched.close()
    assert (tmp_path / "run" / "values.csv").read_text().splitlines()[1].startswith("0,")
    _update(model, opt)
    lr_sched.step()  # no update counted any more
    assert sched.current_step == 1
