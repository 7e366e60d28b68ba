"""The record is what the optimizer used: another code path changing a scheduled value (issue 10.1)."""

from __future__ import annotations

import warnings

import pytest
import torch

import paramsched as ps


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(4, 1)


def _train(sched, opt, model, steps, *, attach, meddle=None):
    for k in range(steps):
        if meddle is not None:
            meddle(k, opt)
        loss = model(torch.ones(2, 4)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not attach:
            sched.step()


def _set_lr_at_5(k, opt):
    if k == 5:
        opt.param_groups[0]["lr"] = 123.0


@pytest.mark.parametrize("attach", [False, True])
def test_a_value_changed_by_someone_else_is_recorded_and_warned_once(tmp_path, attach):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    meddle_twice = lambda k, o: (k in (5, 7)) and o.param_groups[0].__setitem__("lr", 123.0)  # noqa: E731
    with pytest.warns(ps.DriftWarning) as caught:
        with ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.0)}, total_steps=10,
                               recorders=[f"csv:{tmp_path}"], attach=attach) as sched:
            _train(sched, opt, model, 10, attach=attach, meddle=meddle_twice)
    drift_warnings = [w for w in caught if issubclass(w.category, ps.DriftWarning)]
    assert len(drift_warnings) == 1
    assert str(drift_warnings[0].message).startswith(
        "paramsched: lr of group 'g0' was changed outside paramsched before update 5: planned 0.05, "
        "the optimizer used 123.0"
    )
    traj = ps.replay.load(tmp_path)
    lr = traj.frame["hp/lr/g0"].tolist()
    assert lr[5] == 123.0 and lr[7] == 123.0
    assert lr[6] == ps.Linear(0.1, 0.0)(6, 10) and lr[8] == ps.Linear(0.1, 0.0)(8, 10)
    assert [(e["step"], e["kind"], e["series"], e["before"], e["after"]) for e in traj.events] == [
        (5, "drift", "hp/lr/g0", 0.05, 123.0),
        (7, "drift", "hp/lr/g0", ps.Linear(0.1, 0.0)(7, 10), 123.0),
    ]
    rebuilt = ps.replay.rebuild(traj)
    assert rebuilt.ok, rebuilt.report()  # the plan plus the logged drift is the log
    assert rebuilt.drift == {"hp/lr/g0": {5: 123.0, 7: 123.0}}


def test_raise_without_attach_stops_before_recording_and_keeps_the_step_count(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.0)}, 10, on_drift="raise", recorders=[f"csv:{tmp_path}"])
    errors = 0
    for k in range(10):
        _set_lr_at_5(k, opt)
        opt.step()
        try:
            sched.step()
        except ps.DriftError as exc:
            errors += 1
            assert "before update 5: lr of group 'g0': planned 0.05, applied 123.0; on_drift='raise'" in str(exc)
        assert sched.current_step == k + 1  # always the optimizer's update count
    sched.close()
    assert errors == 1
    traj = ps.replay.load(tmp_path)
    assert traj.frame.index.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9]  # the drifted update is not recorded
    assert opt.param_groups[0]["lr"] == ps.Linear(0.1, 0.0)(9, 10)


def test_raise_with_attach_stops_the_update_before_it_runs():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10, attach=True, on_drift="raise")
    before = model.weight.detach().clone()
    model(torch.ones(2, 4)).sum().backward()
    opt.param_groups[0]["lr"] = 7.0
    with pytest.raises(ps.DriftError, match=r"planned 0.1, applied 7.0; on_drift='raise'"):
        opt.step()
    assert torch.equal(model.weight, before) and sched.current_step == 0


def test_adopt_keeps_the_new_value_as_an_intervention_and_replays(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.0)}, 10, on_drift="adopt",
                           recorders=[f"csv:{tmp_path}"]) as sched:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # adopting is not a warning
            _train(sched, opt, model, 10, attach=False, meddle=_set_lr_at_5)
    traj = ps.replay.load(tmp_path)
    assert traj.frame["hp/lr/g0"].tolist()[5:] == [123.0] * 5
    (event,) = traj.events
    assert (event["step"], event["kind"], event["before"], event["after"]) == (5, "intervention", 0.05, 123.0)
    assert event["spec"] == {"type": "Constant", "value": 123.0}
    assert event["reason"].startswith("adopted: lr of group 'g0' was set to 123.0 outside paramsched")
    assert ps.replay.rebuild(traj).ok
    with pytest.raises(ValueError, match="on_drift='adopt' needs relative=False"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(1.0)}, 10, on_drift="adopt", relative=True)


def test_adopting_a_value_out_of_range_is_an_error():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10, on_drift="adopt")
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ps.DriftError, match=r"cannot adopt the value set outside paramsched: .*lr must be >= 0"):
        sched.step()
    assert sched.current_step == 1


def test_the_same_value_written_again_is_not_drift():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.0)}, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5):
            opt.param_groups[0]["lr"] = float(str(opt.param_groups[0]["lr"]))  # equal, another object
            sched.step()
    assert sched.events == []


def test_a_replaced_tensor_is_drift_and_the_new_tensor_is_then_filled_in_place():
    opt = torch.optim.AdamW(_model().parameters(), lr=1e-3, foreach=False)
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1e-3, 0.0)}, 10, tensors=True)
    replacement = torch.tensor(0.5, dtype=torch.float64)
    opt.param_groups[0]["lr"] = replacement
    with pytest.warns(ps.DriftWarning, match="the optimizer used 0.5"):
        sched.step()
    assert opt.param_groups[0]["lr"] is replacement  # the tensor is kept, its value is ours again
    assert replacement.item() == ps.Linear(1e-3, 0.0)(1, 10)
    sched.step()
    assert replacement.item() == ps.Linear(1e-3, 0.0)(2, 10) and sched.events[0]["after"] == 0.5


def test_a_tuple_element_changed_elsewhere_is_drift():
    opt = torch.optim.AdamW(_model().parameters(), lr=1e-3)
    sched = ps.ParamScheduler(opt, {"betas.0": ps.Constant(0.9), "betas.1": ps.Constant(0.99)}, 10)
    opt.param_groups[0]["betas"] = (0.5, 0.99)
    with pytest.warns(ps.DriftWarning, match=r"betas.0 of group 'g0' .* planned 0.9, the optimizer used 0.5"):
        sched.step()
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)
    assert [e["series"] for e in sched.events] == ["hp/betas.0/g0"]


def test_on_drift_is_checked():
    opt = torch.optim.SGD(_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"on_drift must be one of 'warn', 'raise', 'adopt', got on_drift='ignore'"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10, on_drift="ignore")
