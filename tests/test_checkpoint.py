"""Checkpoints: state_dict round trips give bit-identical runs; changed runs follow a policy."""

from __future__ import annotations

import pytest
import torch

import paramsched as ps

TOTAL = 100
SCHEDULES = {
    "lr": ps.WarmupStableDecay(3e-3, warmup=10, decay=0.3),
    "betas.0": ps.Linear(0.85, 0.95),
    "weight_decay": ps.Cosine(0.1, 0.0),
}


def _build():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(
        [{"params": model[0].parameters(), "name": "body"}, {"params": model[2].parameters(), "name": "head"}],
        lr=1e-3,
    )
    sched = ps.ParamScheduler(opt, SCHEDULES, TOTAL, overrides={"head": {"lr": ps.Cosine(1e-3, 0.0)}})
    return model, opt, sched


def _run(model, opt, sched, steps, seen):
    for k in steps:
        seen.append((k, sched.current_series(), [dict(g, params=None) for g in opt.param_groups]))
        gen = torch.Generator().manual_seed(k)
        x = torch.randn(8, 4, generator=gen)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True)).backward()
        opt.step()
        sched.step()


def test_resume_from_a_checkpoint_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight_model, opt, sched = _build()
    straight: list = []
    _run(straight_model, opt, sched, range(TOTAL), straight)

    model, opt, sched = _build()
    resumed: list = []
    _run(model, opt, sched, range(50), resumed)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path)
    del model, opt, sched

    model, opt, sched = _build()
    ckpt = torch.load(path)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    assert sched.current_step == 50
    _run(model, opt, sched, range(50, TOTAL), resumed)

    assert [(k, v) for k, v, _ in resumed] == [(k, v) for k, v, _ in straight]
    assert [g for _, _, g in resumed] == [g for _, _, g in straight]
    for a, b in zip(straight_model.parameters(), model.parameters()):
        assert torch.equal(a, b)


def test_load_state_dict_reapplies_the_values_at_once():
    _, opt, sched = _build()
    state = {**sched.state_dict(), "step": 70}
    sched.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == SCHEDULES["lr"](70, TOTAL)
    assert opt.param_groups[1]["betas"][0] == SCHEDULES["betas.0"](70, TOTAL)


def test_a_checkpoint_of_other_schedules_is_an_error_unless_not_strict():
    _, _, sched = _build()
    state = sched.state_dict()
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    other = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, TOTAL)
    with pytest.raises(ValueError, match=r"checkpoint was made with different schedules .*pass strict=False"):
        other.load_state_dict({**other.state_dict(), "fingerprint": state["fingerprint"]})
    with pytest.warns(ps.ScheduleWarning, match="different schedules"):
        other.load_state_dict({**other.state_dict(), "fingerprint": "0" * 16, "step": 3}, strict=False)
    assert other.current_step == 3


def test_a_foreign_state_dict_is_rejected():
    _, _, sched = _build()
    with pytest.raises(ValueError, match=r"state_dict must come from ParamScheduler.state_dict\(\)"):
        sched.load_state_dict({"last_epoch": 3})


def _sched_for(total, policy="error"):
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    return opt, ps.ParamScheduler(
        opt, {"lr": ps.WarmupStableDecay(1.0, warmup=0.1, decay=0.2)}, total, total_steps_policy=policy
    )


def test_a_changed_total_steps_is_an_error_by_default():
    _, old = _sched_for(100)
    _, new = _sched_for(200)
    with pytest.raises(ValueError, match=r"checkpoint has total_steps=100, this scheduler total_steps=200; pass total_steps_policy='rescale'"):
        new.load_state_dict(old.state_dict())


def test_rescale_stretches_the_schedules_to_the_new_length():
    _, old = _sched_for(100)
    old.load_state_dict({**old.state_dict(), "step": 50})
    opt, new = _sched_for(200, "rescale")
    new.load_state_dict(old.state_dict())
    wsd = ps.WarmupStableDecay(1.0, warmup=0.1, decay=0.2)
    assert new.current_step == 50
    assert opt.param_groups[0]["lr"] == wsd(50, 200)


def test_extend_keeps_the_warmup_and_moves_the_decay_to_the_new_end():
    _, old = _sched_for(100)
    old.load_state_dict({**old.state_dict(), "step": 50})
    opt, new = _sched_for(200)
    new.load_state_dict(old.state_dict(), total_steps_policy="extend")
    # warmup of 10 steps and decay of 20 steps, as planned for 100 steps
    expected = ps.WarmupStableDecay(1.0, warmup=10, decay=20)
    for k in (0, 5, 10, 50, 179, 180, 190, 199):
        assert new.values_at(k)["hp/lr/g0"] == expected(k, 200)
    # resuming the extended run again keeps the same plan
    opt2, again = _sched_for(200)
    again.load_state_dict(new.state_dict(), total_steps_policy="extend")
    assert again.values_at(190) == new.values_at(190)


def test_extend_names_a_schedule_without_phases():
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    old = ps.ParamScheduler(opt, {"lr": ps.Cosine(0.1, 0.0)}, 100)
    new = ps.ParamScheduler(opt, {"lr": ps.Cosine(0.1, 0.0)}, 200, total_steps_policy="extend")
    with pytest.raises(ValueError, match=r"planned for total_steps=100, this scheduler has total_steps=200; total_steps_policy='extend' needs schedules with a warmup and a decay phase, but schedules\['lr'\] is Cosine"):
        new.load_state_dict(old.state_dict())


def test_torch_save_of_the_whole_scheduler_round_trips(tmp_path):
    _, opt, sched = _build()
    sched.step()
    torch.save(sched, tmp_path / "sched.pt")
    loaded = torch.load(tmp_path / "sched.pt", weights_only=False)
    assert loaded.current_series() == sched.current_series()
    assert loaded.state_dict() == sched.state_dict()


# -- torch.distributed.checkpoint's own optimizer.step() -------------------------------------


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_dcp_get_state_dict_on_a_fresh_optimizer_is_not_an_update(optimizer, tmp_path):
    # get_state_dict() steps an optimizer without state once (zero grads, lr=0) to
    # create that state; an attached scheduler must not count it.
    from torch.distributed.checkpoint.state_dict import (
        get_optimizer_state_dict,
        get_state_dict,
        set_optimizer_state_dict,
    )

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    make = {"adamw": lambda: torch.optim.AdamW(model.parameters()), "sgd": lambda: torch.optim.SGD(model.parameters(), lr=0.1)}[optimizer]
    opt = make()
    if optimizer == "adamw":
        schedules = {"lr": ps.Linear(0.1, 0.0), "betas.0": ps.Linear(0.8, 0.9), "weight_decay": ps.Cosine(0.1, 0.0)}
    else:  # SGD without momentum: its state stays empty, every step looks like a first one
        schedules = {"lr": ps.Linear(0.1, 0.0), "weight_decay": ps.Cosine(0.1, 0.0)}
    sched = ps.ParamScheduler(opt, schedules, 10, attach=True, recorders=[f"csv:{tmp_path / 'run'}"])
    before = [dict(g, params=None) for g in opt.param_groups]
    weights = model.weight.detach().clone()

    _, saved = get_state_dict(model, opt)
    get_optimizer_state_dict(model, opt)
    fresh_opt = make()
    fresh = ps.ParamScheduler(fresh_opt, schedules, 10, attach=True)
    set_optimizer_state_dict(model, fresh_opt, saved)  # the load path steps a fresh optimizer too
    assert fresh.current_step == 0

    assert sched.current_step == 0
    assert not (tmp_path / "run").exists()  # the CSV recorder starts at its first record
    assert [dict(g, params=None) for g in opt.param_groups] == before
    assert torch.equal(model.weight, weights)
    if optimizer == "adamw":
        assert opt.state  # DCP did create the state
    for k in range(3):  # real updates still advance it, one each
        model(torch.ones(1, 4)).sum().backward()
        opt.step()
        opt.zero_grad()
        assert sched.current_step == k + 1
    sched.close()
    assert list(ps.replay.load(tmp_path / "run").frame.index) == [0, 1, 2]
    assert opt.param_groups[0]["lr"] == ps.Linear(0.1, 0.0)(3, 10)
