"""ParamScheduler: step semantics, targets, overrides, validation, tensors."""

from __future__ import annotations

import math
import pickle
import warnings

import pytest
import torch

import paramsched as ps
from paramsched import _plan


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _adamw(model: torch.nn.Module, **kwargs) -> torch.optim.AdamW:
    body, head = model[0], model[2]
    return torch.optim.AdamW(
        [
            {"params": body.parameters(), "name": "body"},
            {"params": head.parameters(), "name": "head", "lr": 5e-3},
        ],
        lr=1e-3,
        **kwargs,
    )


def _train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    gen = torch.Generator().manual_seed(step)
    x = torch.randn(16, 4, generator=gen)
    y = x.sum(dim=1, keepdim=True)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()


def square_lr(step: int, total_steps: int) -> float:
    return 0.1 * (1.0 - step / total_steps) ** 2


def nan_at_4999(step: int, total_steps: int) -> float:
    return math.nan if step == 4999 else 0.1


SCHEDULES = {
    "lr": ps.WarmupStableDecay(3e-3, warmup=5, decay=0.3),
    "betas.0": ps.Linear(0.85, 0.95),
    "weight_decay": ps.Cosine(0.1, 0.0),
}


def test_end_to_end_every_value_matches_the_schedules_at_every_step():
    model = _model()
    opt = _adamw(model)
    total = 40
    overrides = {"head": {"lr": ps.Constant(1e-3)}}
    sched = ps.ParamScheduler(opt, SCHEDULES, total_steps=total, overrides=overrides)
    for k in range(total):
        body, head = opt.param_groups
        assert body["lr"] == SCHEDULES["lr"](k, total)
        assert head["lr"] == 1e-3
        for group in (body, head):
            assert group["betas"][0] == SCHEDULES["betas.0"](k, total)
            assert group["betas"][1] == 0.999  # the other element is untouched
            assert group["weight_decay"] == SCHEDULES["weight_decay"](k, total)
        assert sched.current_step == k
        assert sched.current()[("lr", "body")] == body["lr"]
        _train_step(model, opt, k)
        sched.step()
    assert sched.current_step == total


def test_construction_applies_step_zero_and_step_applies_the_next():
    opt = torch.optim.SGD(_model().parameters(), lr=1.0, momentum=0.5)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0), "momentum": ps.Linear(0.9, 0.5)}, 4)
    assert opt.param_groups[0]["lr"] == 1.0
    assert opt.param_groups[0]["momentum"] == 0.9
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.75
    assert opt.param_groups[0]["momentum"] == ps.Linear(0.9, 0.5)(1, 4)


def test_the_step_after_the_last_update_never_warns_and_holds_the_last_values():
    opt = torch.optim.SGD(_model().parameters(), lr=1.0)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 4, after_end="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            sched.step()
    assert sched.current_step == 4
    assert opt.param_groups[0]["lr"] == 0.25


def test_an_update_past_the_end_warns_once_and_holds():
    opt = torch.optim.SGD(_model().parameters(), lr=1.0)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 2)
    sched.step()
    sched.step()
    with pytest.warns(ps.ScheduleWarning, match=r"update at step 2 is past the end .*total_steps=2.*holding the values of step 1"):
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.5


def test_after_end_raise_makes_an_update_past_the_end_an_error():
    opt = torch.optim.SGD(_model().parameters(), lr=1.0)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 1, after_end="raise")
    sched.step()
    with pytest.raises(ps.ScheduleEndedError, match=r"update at step 1 is past the end"):
        sched.step()


def test_attach_advances_only_on_real_optimizer_steps():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 8, attach=True)
    # gradient accumulation: 4 micro-batches per update, 2 updates
    for micro in range(8):
        x = torch.randn(2, 4)
        model(x).sum().backward()
        if micro % 4 == 3:
            opt.step()
            opt.zero_grad()
    assert sched.current_step == 2
    assert opt.param_groups[0]["lr"] == 0.75


def test_attach_does_not_advance_on_an_update_the_grad_scaler_skips():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu")
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 8, attach=True)
    scaler.scale(model(torch.randn(2, 4)).sum()).backward()
    next(model.parameters()).grad.fill_(math.inf)
    scaler.step(opt)  # inf gradients: the scaler skips optimizer.step()
    scaler.update()
    assert sched.current_step == 0
    opt.zero_grad()
    scaler.scale(model(torch.randn(2, 4)).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert sched.current_step == 1


def test_attach_with_after_end_raise_stops_the_update_before_it_runs():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 1, attach=True, after_end="raise")
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ps.ScheduleEndedError, match="past the end"):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_overrides_replace_only_the_keys_they_name():
    model = _model()
    opt = _adamw(model)
    ps.ParamScheduler(
        opt,
        {"lr": ps.Constant(0.01), "weight_decay": ps.Constant(0.2)},
        10,
        overrides={1: {"lr": ps.Constant(0.5)}},
    )
    assert opt.param_groups[0]["lr"] == 0.01
    assert opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["weight_decay"] == 0.2


def test_a_key_can_target_one_group_with_a_tuple():
    opt = _adamw(_model())
    sched = ps.ParamScheduler(opt, {("lr", "head"): ps.Constant(0.25)}, 10)
    assert opt.param_groups[0]["lr"] == 1e-3
    assert opt.param_groups[1]["lr"] == 0.25
    assert sched.series == ["hp/lr/head"]


def test_relative_multiplies_each_groups_base_value():
    opt = _adamw(_model())
    shape = ps.Linear(1.0, 0.0)
    sched = ps.ParamScheduler(opt, {"lr": shape}, 10, relative=True)
    sched.step()
    assert opt.param_groups[0]["lr"] == 1e-3 * shape(1, 10)
    assert opt.param_groups[1]["lr"] == 5e-3 * shape(1, 10)
    assert sched.state_dict()["base_values"] == {"hp/lr/body": 1e-3, "hp/lr/head": 5e-3}


def test_custom_keys_are_scheduled_and_checked_for_finiteness_only():
    model = _model()
    opt = torch.optim.SGD([{"params": model.parameters(), "my_temperature": 1.0}], lr=0.1)
    ps.ParamScheduler(opt, {"my_temperature": ps.Linear(-2.0, 2.0)}, 4)
    assert opt.param_groups[0]["my_temperature"] == -2.0


def test_series_names_use_group_names_sanitized_or_the_index():
    model = _model()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "name": "enc:layer<1>"}, {"params": model[2].parameters()}],
        lr=0.1,
    )
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 3)
    assert sched.series == ["hp/lr/enc_layer_1_", "hp/lr/g1"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"schedules": {"lrr": ps.Constant(0.1)}}, ValueError,
         r"param group 0 \('body'\) has no key 'lrr' .*keys that exist: amsgrad, betas, .*lr, .*weight_decay"),
        ({"schedules": {"lr.0": ps.Constant(0.1)}}, ValueError,
         r"schedules key 'lr.0' indexes 'lr', but param group 0 \('body'\) holds a float there, not a tuple"),
        ({"schedules": {"betas.2": ps.Constant(0.1)}}, ValueError,
         r"indexes element 2 of 'betas', but param group 0 \('body'\) holds a 2-tuple there"),
        ({"schedules": {"betas": ps.Constant(0.1)}}, ValueError,
         r"holds a 2-tuple under 'betas'; schedule one element with 'betas.<i>'"),
        ({"overrides": {-1: {"lr": ps.Constant(0.1)}}}, ValueError,
         r"overrides\[-1\] selects group index -1, but the optimizer has 2 param group\(s\): indices 0..1 \(negative indices are not accepted\)"),
        ({"overrides": {2: {"lr": ps.Constant(0.1)}}}, ValueError, r"selects group index 2, but the optimizer has 2"),
        ({"overrides": {"tail": {"lr": ps.Constant(0.1)}}}, ValueError,
         r"overrides\['tail'\] names group 'tail', but the groups are: 'body', 'head'"),
        ({"overrides": {1.5: {"lr": ps.Constant(0.1)}}}, TypeError, r"overrides\[1.5\] must select a group by index"),
        ({"total_steps": 0}, ValueError, r"total_steps must be an int >= 1, got total_steps=0"),
        ({"total_steps": 10.0}, TypeError, r"total_steps must be an int >= 1, got total_steps=10.0"),
        ({"schedules": {"betas.0": ps.Linear(0.9, 1.1)}}, ValueError,
         r"schedules\['betas.0'\] gives betas.0=1.0 at step 5 of total_steps=10 for group 'body'; betas.0 must be in \[0, 1\)"),
        ({"schedules": {"lr": ps.Linear(0.1, -0.1)}}, ValueError,
         r"schedules\['lr'\] gives lr=-0.0(2|199).* at step 6 .*lr must be >= 0"),
        ({"schedules": {"weight_decay": ps.Constant(-1.0)}}, ValueError, r"weight_decay must be >= 0"),
        ({"schedules": {"lr": 0.1}}, TypeError, r"Constant"),
        ({"schedules": {"lr": lambda step, total: 0.1}}, TypeError, r"module-level function or .*FunctionSchedule"),
        ({"schedules": {}}, ValueError, r"schedules must name at least one key"),
        ({"schedules": ["lr"]}, TypeError, r"schedules must be a mapping"),
        ({"after_end": "hold"}, ValueError, r"after_end must be one of 'warn', 'raise', got after_end='hold'"),
        ({"relative": 1}, TypeError, r"relative must be True or False, got relative=1"),
        ({"recorders": 5}, TypeError, r"recorders must be a recorder, a name such as 'csv:runs/a', or a list"),
        ({"schedules": {"l/r": ps.Constant(0.1)}}, ValueError, r"a scheduled key may contain only letters"),
    ],
)
def test_bad_input_is_rejected_at_construction(kwargs, error, match):
    args = {"schedules": {"lr": ps.Constant(0.1)}, "total_steps": 10, **kwargs}
    opt = _adamw(_model())
    with pytest.raises(error, match=match):
        ps.ParamScheduler(opt, args.pop("schedules"), args.pop("total_steps"), **args)


def test_a_non_finite_value_is_an_error_at_construction():
    opt = _adamw(_model())
    with pytest.raises(ValueError, match=r"gives lr=inf at step 0 .*lr must be finite"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(1e308) * 10.0}, 10)


def test_a_non_finite_value_between_check_points_is_an_error_when_applied():
    assert 4999 not in _plan.check_points(ps.Constant(0.0), 10_000)
    opt = _adamw(_model())
    sched = ps.ParamScheduler(opt, {"lr": ps.FunctionSchedule(nan_at_4999)}, 10_000)
    sched.load_state_dict({**sched.state_dict(), "step": 4998})
    with pytest.raises(ValueError, match=r"gave lr=nan at step 4999 for group 'body'; every applied value must be finite"):
        sched.step()


def test_duplicate_group_labels_are_an_error():
    model = _model()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "name": "a:b"}, {"params": model[2].parameters(), "name": "a/b".replace("/", "_")}],
        lr=0.1,
    )
    with pytest.raises(ValueError, match=r"param groups 0 and 1 both get the series label 'a_b'"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 3)


def test_a_shared_default_tensor_lr_is_split_per_group():
    model = _model()
    lr = torch.tensor(0.01)
    opt = torch.optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=lr)
    assert opt.param_groups[0]["lr"] is opt.param_groups[1]["lr"]
    ps.ParamScheduler(opt, {"lr": ps.Constant(0.5)}, 3, overrides={1: {"lr": ps.Constant(0.25)}})
    assert opt.param_groups[0]["lr"] is not opt.param_groups[1]["lr"]
    assert opt.param_groups[0]["lr"].item() == 0.5
    assert opt.param_groups[1]["lr"].item() == 0.25
    assert lr.item() == pytest.approx(0.01)  # the user's default tensor is untouched


def test_tensors_are_updated_in_place_and_tensors_true_converts_scheduled_keys():
    opt = torch.optim.Adam(_model().parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.0), "betas.0": ps.Linear(0.9, 0.5)}, 10, tensors=True)
    lr, beta1 = opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
    assert isinstance(lr, torch.Tensor) and lr.dtype == torch.float64 and lr.dim() == 0
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and opt.param_groups[0]["betas"][0] is beta1
    assert lr.item() == ps.Linear(0.1, 0.0)(1, 10)
    assert beta1.item() == ps.Linear(0.9, 0.5)(1, 10)
    assert opt.param_groups[0]["betas"][1] == 0.999


def test_simulate_gives_the_values_the_scheduler_applies():
    total = 30
    frame = ps.simulate(SCHEDULES, total, groups=["body", "head"], overrides={"head": {"lr": ps.Constant(1e-3)}})
    model = _model()
    opt = _adamw(model)
    sched = ps.ParamScheduler(opt, SCHEDULES, total, overrides={"head": {"lr": ps.Constant(1e-3)}})
    assert list(frame.columns) == sched.series
    for k in range(total):
        assert frame.loc[k].to_dict() == sched.current_series()
        sched.step()


def test_simulate_relative_uses_the_given_base_values():
    frame = ps.simulate({"lr": ps.Linear(1.0, 0.0)}, 4, groups=[{"name": "a", "lr": 0.5}], relative=True)
    assert frame["hp/lr/a"].tolist() == [0.5, 0.375, 0.25, 0.125]
    with pytest.raises(ValueError, match=r"relative=True needs each group's base values"):
        ps.simulate({"lr": ps.Linear(1.0, 0.0)}, 4, groups=2, relative=True)


def test_the_scheduler_pickles_and_reattaches():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = ps.ParamScheduler(opt, {"lr": ps.FunctionSchedule(square_lr)}, 10, attach=True)
    opt.step()
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.current_step == 1
    assert clone.optimizer.param_groups[0]["lr"] == square_lr(1, 10)
    clone.optimizer.step()
    assert clone.current_step == 2
    assert sched.current_step == 1


def test_values_at_does_not_apply():
    opt = torch.optim.SGD(_model().parameters(), lr=1.0)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 4)
    assert sched.values_at(2) == {"hp/lr/g0": 0.5}
    assert opt.param_groups[0]["lr"] == 1.0


def test_a_list_valued_entry_keeps_its_type_and_other_elements():
    model = _model()
    opt = torch.optim.SGD([{"params": model.parameters(), "coeffs": [0.1, 0.2, 0.3]}], lr=0.1)
    ps.ParamScheduler(opt, {"coeffs.1": ps.Constant(0.5)}, 3)
    assert opt.param_groups[0]["coeffs"] == [0.1, 0.5, 0.3]


def test_a_custom_key_spelt_like_a_tuple_element_is_a_plain_key_when_it_exists():
    model = _model()
    opt = torch.optim.SGD([{"params": model.parameters(), "temp.0": 1.0}], lr=0.1)
    sched = ps.ParamScheduler(opt, {"temp.0": ps.Constant(2.0)}, 3)
    assert opt.param_groups[0]["temp.0"] == 2.0
    assert sched.series == ["hp/temp.0/g0"]


def test_values_follow_param_groups_replaced_by_optimizer_load_state_dict():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    saved = opt.state_dict()
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, 4)
    opt.load_state_dict(saved)  # torch builds new group dicts here
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.75


def test_tensors_can_name_the_keys_to_hold_as_tensors():
    opt = torch.optim.AdamW(_model().parameters(), lr=0.1)
    ps.ParamScheduler(opt, SCHEDULES, 10, tensors=["lr", "betas.0"])
    group = opt.param_groups[0]
    assert isinstance(group["lr"], torch.Tensor) and isinstance(group["betas"][0], torch.Tensor)
    assert type(group["weight_decay"]) is float
    with pytest.raises(ValueError, match=r"tensors names keys that are not scheduled: \['eps'\]; scheduled keys: \['betas.0', 'lr', 'weight_decay'\]"):
        ps.ParamScheduler(opt, SCHEDULES, 10, tensors=["eps"])
    with pytest.raises(TypeError, match=r"tensors must be True, False or a list of scheduled keys, got tensors='lr'"):
        ps.ParamScheduler(opt, SCHEDULES, 10, tensors="lr")


def test_tensor_values_on_a_foreach_optimizer_without_capturable_are_rejected():
    opt = torch.optim.AdamW(_model().parameters(), lr=0.1, foreach=True)
    with pytest.raises(ValueError, match=r"lr is a tensor in param group 0 \('g0'\), which has foreach=True and capturable=False: .*pass capturable=True or foreach=False"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10, tensors=True)
    ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10)  # floats are fine


def test_a_rejected_scheduler_leaves_the_optimizer_untouched():
    opt = torch.optim.AdamW(_model().parameters(), lr=0.1)
    before = [dict(g, params=None) for g in opt.param_groups]
    with pytest.raises(ValueError, match=r"betas.0 must be in \[0, 1\)"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(0.5), "betas.0": ps.Constant(1.5)}, 10, tensors=True)
    assert [dict(g, params=None) for g in opt.param_groups] == before
