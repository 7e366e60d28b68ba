"""Interventions, metric-driven policies and control files, replayable from the log (issue 10)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import pytest
import torch

import paramsched as ps
from paramsched.control import ControlWarning, write_request


def _opt(lr=0.1, groups=("body", "head")):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(3, 3) for _ in groups]
    return torch.optim.SGD(
        [{"params": layer.parameters(), "name": name} for layer, name in zip(layers, groups)], lr=lr, momentum=0.9
    )


def _loop(sched, opt, steps, **step_kwargs):
    for _ in range(steps):
        opt.step()
        sched.step(**step_kwargs)


# -- intervene ------------------------------------------------------------------------------


def test_intervene_takes_numbers_schedules_specs_and_functions_from_the_next_update(tmp_path):
    opt = _opt()
    schedules = {"lr": ps.Linear(0.1, 0.0), "momentum": ps.Constant(0.9)}
    with ps.ParamScheduler(opt, schedules, 20, recorders=[f"csv:{tmp_path}"]) as sched:
        _loop(sched, opt, 5)
        events = sched.intervene({"lr": lambda s: s * 0.5}, reason="loss spike")
        assert opt.param_groups[0]["lr"] == 0.5 * ps.Linear(0.1, 0.0)(5, 20)  # at once, for update 5
        assert [e["series"] for e in events] == ["hp/lr/body", "hp/lr/head"]
        _loop(sched, opt, 5)
        sched.intervene({("lr", "head"): 0.01, "hp/momentum/body": {"type": "Constant", "value": 0.5}})
        _loop(sched, opt, 5)
        sched.intervene({"momentum": ps.Linear(0.9, 0.8)}, reason="cool")
        _loop(sched, opt, 5)
    traj = ps.replay.load(tmp_path)
    lr_body, lr_head = traj.frame["hp/lr/body"].tolist(), traj.frame["hp/lr/head"].tolist()
    assert lr_body[4] == ps.Linear(0.1, 0.0)(4, 20) and lr_body[5] == 0.5 * ps.Linear(0.1, 0.0)(5, 20)
    assert lr_head[10:] == [0.01] * 10 and lr_body[19] == 0.5 * ps.Linear(0.1, 0.0)(19, 20)
    assert traj.frame["hp/momentum/body"].tolist()[10:15] == [0.5] * 5
    assert traj.frame["hp/momentum/head"].tolist()[15] == ps.Linear(0.9, 0.8)(15, 20)
    assert [(e["step"], e["series"], e["reason"]) for e in traj.events] == [
        (5, "hp/lr/body", "loss spike"), (5, "hp/lr/head", "loss spike"),
        (10, "hp/lr/head", ""), (10, "hp/momentum/body", ""),
        (15, "hp/momentum/body", "cool"), (15, "hp/momentum/head", "cool"),
    ]
    assert traj.events[0]["spec"] == {"type": "Scale", "schedule": ps.Linear(0.1, 0.0).to_spec(), "factor": 0.5}
    rebuilt = ps.replay.rebuild(traj)  # the original plan plus every intervention: == the log
    assert rebuilt.ok, rebuilt.report()
    opt_plain = _opt()
    with ps.ParamScheduler(opt_plain, schedules, 20, recorders=[f"csv:{tmp_path / 'plain'}"]) as plain:
        _loop(plain, opt_plain, 20)
    table = ps.replay.diff(ps.replay.load(tmp_path / "plain"), traj)
    assert table.loc["hp/lr/body", "first_diverging_step"] == 5
    assert table.loc["hp/lr/body", "event"] == "right: intervention at step 5 (loss spike)"
    assert table.loc["hp/lr/head", "event"] == "right: intervention at step 5 (loss spike)"


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"weight_decay": 0.1}, ValueError, r"changes\['weight_decay'\] names key 'weight_decay', which is not scheduled; scheduled keys: \['lr'\]"),
        ({("lr", "tail"): 0.1}, ValueError, r"names series \['hp/lr/tail'\], which are not scheduled"),
        ({"lr": ps.Linear(0.1, -0.1)}, ValueError, r"the intervention at step 3 on 'hp/lr/body' gives lr=-.* at step 6 of total_steps=10 for group 'body'; lr must be >= 0"),
        ({"lr": math.nan}, ValueError, r"changes\['lr'\] must be finite, got changes\['lr'\]=nan"),
        ({"lr": True}, TypeError, r"must be a schedule, a number or a function of the current schedule, got True"),
        ({"lr": lambda s: "fast"}, TypeError, r"must return a Schedule or a number, got 'fast'"),
        ({"lr": lambda step, total: 0.1}, TypeError, r"must be picklable: a lambda or closure cannot be saved"),
        ({}, TypeError, r"changes must be a non-empty dict"),
        ({3: 0.1}, TypeError, r"must be a key \('lr'\), a \(key, group\) pair or a series name"),
    ],
)
def test_a_bad_intervention_raises_and_changes_nothing(tmp_path, changes, error, match):
    opt = _opt()
    with ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.0)}, 10, recorders=[f"csv:{tmp_path}"]) as sched:
        _loop(sched, opt, 3)
        state = sched.state_dict()
        with pytest.raises(error, match=match):
            sched.intervene(changes)
        assert sched.state_dict() == state and sched.events == []
        assert opt.param_groups[0]["lr"] == ps.Linear(0.1, 0.0)(3, 10)
        _loop(sched, opt, 7)
    assert ps.replay.load(tmp_path).frame.index.tolist() == list(range(10))


def test_interventions_live_in_the_state_and_a_resume_is_bit_for_bit(tmp_path):
    def build(folder):
        opt = _opt()
        return opt, ps.ParamScheduler(opt, {"lr": ps.Cosine(0.1, 0.0)}, 30, recorders=[f"csv:{folder}"])

    opt, ref = build(tmp_path / "ref")
    _loop(ref, opt, 10)
    ref.intervene({"lr": 0.02}, reason="first")
    _loop(ref, opt, 10)
    ref.intervene({"lr": lambda s: s * 0.5}, reason="second")
    checkpoint = ref.state_dict()
    _loop(ref, opt, 10)
    ref.close()
    assert [iv["reason"] for iv in checkpoint["interventions"]] == ["first", "second"]

    opt2, resumed = build(tmp_path / "ref")  # the same directory: the crashed run resumes into it
    resumed.load_state_dict(checkpoint)
    assert opt2.param_groups[0]["lr"] == 0.01
    _loop(resumed, opt2, 10)
    resumed.close()
    log = ps.replay.load(tmp_path / "ref")
    assert log.frame.index.tolist() == list(range(30))
    assert log.frame["hp/lr/body"].tolist()[20:] == [0.01] * 10
    kinds = [(e["step"], e["kind"], e["reason"]) for e in log.events]
    assert kinds == [(10, "intervention", "first"), (10, "intervention", "first"), (20, "resume", "resumed from a checkpoint at step 20"),
                     (20, "intervention", "second"), (20, "intervention", "second")]
    assert ps.replay.rebuild(log).ok

    other = ps.ParamScheduler(_opt(), {"lr": ps.Cosine(0.2, 0.0)}, 30)
    with pytest.raises(ValueError, match="made with different schedules"):
        other.load_state_dict(checkpoint)


def test_a_state_whose_intervention_names_an_unknown_series_changes_nothing():
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10)
    bad = dict(sched.state_dict(), step=4, interventions=[{"step": 2, "changes": {"hp/lr/tail": {"type": "Constant", "value": 0.5}}}])
    with pytest.raises(ValueError, match=r"changes 'hp/lr/tail', which this scheduler does not schedule"):
        sched.load_state_dict(bad)
    assert sched.current_step == 0 and opt.param_groups[0]["lr"] == 0.1


# -- policies -------------------------------------------------------------------------------


METRICS = [1.0, 0.9, 0.95, 0.96, 0.97, 0.9, 0.91, 0.92, 0.93, 0.94, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0, 1.1, 1.2] * 3


@pytest.mark.parametrize(
    "options",
    [
        {"factor": 0.5, "patience": 3},
        {"factor": 0.1, "patience": 1, "cooldown": 2, "min_lr": 1e-4},
        {"factor": 0.7, "patience": 2, "mode": "max", "threshold": 0.05, "threshold_mode": "abs"},
    ],
)
def test_reduce_on_plateau_gives_torchs_lr_at_every_step(tmp_path, options):
    torch_opt = _opt(groups=("g",))
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **options)
    ours_options = {("min_value" if k == "min_lr" else k): v for k, v in options.items()}
    opt = _opt(groups=("g",))
    policy = ps.policies.ReduceOnPlateau("val_loss", **ours_options)
    expected, seen = [], []
    with ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, len(METRICS), policies=[policy],
                           recorders=[f"csv:{tmp_path}"], record_metrics=True) as sched:
        for value in METRICS:
            torch_opt.step()
            plateau.step(value)
            expected.append(torch_opt.param_groups[0]["lr"])
            opt.step()
            sched.step(metrics={"val_loss": value})
            seen.append(opt.param_groups[0]["lr"])
    assert seen == expected and len(set(seen)) > 2
    traj = ps.replay.load(tmp_path)
    assert traj.metrics["val_loss"].tolist() == METRICS
    assert all(e["kind"] == "policy" for e in traj.events) and traj.events
    assert ps.replay.rebuild(traj).ok  # replays from its log alone, no metrics needed


def test_policy_state_rides_in_the_checkpoint():
    opt = _opt(groups=("g",))
    policy = ps.policies.ReduceOnPlateau("loss", factor=0.5, patience=2)
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 50, policies=[policy])
    for value in [1.0, 1.0, 1.0]:
        opt.step()
        sched.step(metrics={"loss": value})
    state = sched.state_dict()
    assert state["policies"] == [{"best": 1.0, "bad_observations": 2, "cooldown_left": 0, "observations": 3}]
    fresh_policy = ps.policies.ReduceOnPlateau("loss", factor=0.5, patience=2)
    fresh = ps.ParamScheduler(_opt(groups=("g",)), {"lr": ps.Constant(0.1)}, 50, policies=[fresh_policy])
    fresh.load_state_dict(state)
    assert fresh_policy.bad_observations == 2
    with pytest.raises(ValueError, match="holds the state of 1 policies, this scheduler has 0"):
        ps.ParamScheduler(_opt(groups=("g",)), {"lr": ps.Constant(0.1)}, 50).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"factor": 1.5}, ValueError, r"factor must be in \(0, 1\), got factor=1.5"),
        ({"patience": -1}, ValueError, r"patience must be an int >= 0, got patience=-1"),
        ({"mode": "up"}, ValueError, r"mode must be one of 'min', 'max', got mode='up'"),
        ({"keys": "lr"}, TypeError, r"keys must be a non-empty list of scheduled keys"),
    ],
)
def test_policy_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        ps.policies.ReduceOnPlateau("loss", **kwargs)


def test_bad_metrics_and_policies_are_errors():
    opt = _opt(groups=("g",))
    with pytest.raises(TypeError, match=r"policies\[0\] must be a paramsched.policies.Policy"):
        ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10, policies=["plateau"])
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 10)
    with pytest.raises(ValueError, match=r"metrics\['loss'\] must be finite, got metrics\['loss'\]=nan"):
        sched.step(metrics={"loss": math.nan})
    assert sched.current_step == 1


# -- control files ----------------------------------------------------------------------------


def test_a_control_file_is_applied_at_a_step_boundary_and_acknowledged(tmp_path):
    control = tmp_path / "run" / "control.json"
    opt = _opt()
    with ps.ParamScheduler(opt, {"lr": ps.Constant(0.1), "momentum": ps.Constant(0.9)}, 40,
                           recorders=[f"csv:{tmp_path / 'run'}"], control=control, control_every=5) as sched:
        _loop(sched, opt, 7)
        write_request(tmp_path / "run", set_values={"lr": 0.05, "hp/momentum/head": 0.5}, reason="from outside")
        _loop(sched, opt, 5)  # polled at step 10
        assert opt.param_groups[0]["lr"] == 0.05 and opt.param_groups[1]["momentum"] == 0.5
        document = json.loads(control.read_text())
        assert document["applied_at_step"] == 10 and document["status"] == "applied"
        _loop(sched, opt, 10)  # an acknowledged file is not applied again
    events = ps.replay.load(tmp_path / "run").events
    assert [(e["step"], e["series"], e["reason"]) for e in events] == [
        (10, "hp/lr/body", "from outside"), (10, "hp/lr/head", "from outside"), (10, "hp/momentum/head", "from outside"),
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"set": {"lr": -1.0}}', "lr must be >= 0"),
        ('{"set": {"weight_decay": 0.1}}', "names key 'weight_decay', which is not scheduled"),
        ('{"set": {"lr": "fast"}}', r"set\['lr'\] must be a number"),
        ('{"spec": {"lr": {"type": "FunctionSchedule", "fn": "os:getpid"}}}', "pass trust_functions=True"),
        ('{"sett": {"lr": 0.1}}', r"unknown field\(s\) \['sett'\]"),
    ],
)
def test_a_bad_control_file_warns_naming_the_file_and_changes_nothing(tmp_path, content, problem):
    control = tmp_path / "control.json"
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 20, control=control, control_every=2)
    control.write_text(content)
    with pytest.warns(ControlWarning, match=rf"control file '{control}': .*{problem}.*the running schedule is unchanged"):
        _loop(sched, opt, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per version of the file
        _loop(sched, opt, 6)
    assert opt.param_groups[0]["lr"] == 0.1 and sched.events == []


def test_a_yaml_control_file(tmp_path):
    control = tmp_path / "control.yaml"
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 20, control=control, control_every=1)
    control.write_text("set:\n  lr: 0.025\nreason: yaml\n")
    _loop(sched, opt, 1)
    assert opt.param_groups[0]["lr"] == 0.025
    assert "applied_at_step: 1" in control.read_text()


def test_the_cli_writes_the_control_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cmd = [sys.executable, "-m", "paramsched", "intervene", str(run), "--set", "lr=1e-4", "--reason", "spike"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    document = json.loads((run / "control.json").read_text())
    assert document["set"] == {"lr": 1e-4} and document["reason"] == "spike"
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "holds a request not applied yet" in again.stderr
    assert "Traceback" not in again.stderr
    bad = subprocess.run([*cmd[:5], "--set", "lr=fast"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--set must be KEY=NUMBER with a finite number, got 'lr=fast'" in bad.stderr


def test_a_resumed_run_applies_a_request_at_the_step_it_was_acknowledged(tmp_path):
    """Checkpoint at 10, request applied at 15, crash at 18: the resumed run applies it at 15 again."""
    control = tmp_path / "control.json"

    def build():
        opt = _opt()
        return opt, ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 30, control=control, control_every=5)

    opt, sched = build()
    _loop(sched, opt, 10)
    checkpoint = sched.state_dict()
    write_request(control, set_values={"lr": 0.05})
    _loop(sched, opt, 8)
    assert json.loads(control.read_text())["applied_at_step"] == 15
    opt2, resumed = build()
    resumed.load_state_dict(checkpoint)
    lrs = []
    for _ in range(10):
        lrs.append(opt2.param_groups[0]["lr"])
        opt2.step()
        resumed.step()
    assert lrs == [0.1] * 5 + [0.05] * 5  # steps 10..14, then 15..19
