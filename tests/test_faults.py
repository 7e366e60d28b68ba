"""A failing recorder never desynchronises the scheduler; bad input gets a clear answer (issue 11)."""

from __future__ import annotations

import math
import os

import pytest
import torch

import paramsched as ps
from paramsched.recording import CsvRecorder, RecorderError


def _opt(**kwargs):
    torch.manual_seed(0)
    return torch.optim.AdamW(torch.nn.Linear(3, 1).parameters(), lr=1e-3, **kwargs)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_recorder_errors_caught_by_the_caller_leave_the_scheduler_in_step(tmp_path):
    rec = CsvRecorder(tmp_path, flush_every=1, on_error="raise")
    opt = _opt()
    schedule = ps.Cosine(1e-3, 0.0)
    sched = ps.ParamScheduler(opt, {"lr": schedule}, 4000, recorders=[rec])
    errors = 0
    saved = None
    for k in range(4000):
        if k == 100:  # the disk fills up: every write fails with ENOSPC
            saved = os.dup(rec._fd)
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, rec._fd)
            os.close(full)
        if k == 107:
            os.dup2(saved, rec._fd)
            os.close(saved)
        opt.step()
        try:
            sched.step()
        except RecorderError:
            errors += 1
        assert sched.current_step == k + 1
    sched.close()
    assert errors >= 1  # the CSV recorder backs off between attempts while the disk is full
    assert opt.param_groups[0]["lr"] == schedule(3999, 4000)
    log = ps.replay.load(tmp_path)
    assert log.frame.index.tolist() == list(range(4000))  # each step once, none lost
    assert not [n for n in log.notes if "more than once" in n]


def test_a_recorder_that_cannot_start_is_reported_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(1e-3)}, 10, recorders=[f"csv:{blocker / 'run'}"])
    opt.step()
    with pytest.raises(RecorderError, match="cannot write the run in"):
        sched.step()
    for _ in range(5):  # never "record() needs start() first"
        opt.step()
        sched.step()
    assert sched.current_step == 6 and sched.recorder is None


def _nan_at_4999(step: int, total: int) -> float:
    return math.nan if step == 4999 else 1e-3


def _text_at_5001(step: int, total: int):
    return "0.001" if step == 5001 else 1e-3  # 5001 is not on the construction check grid


def test_a_value_that_is_not_finite_leaves_the_scheduler_at_the_optimizers_step(tmp_path):
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.FunctionSchedule(_nan_at_4999)}, 10_000, recorders=[f"csv:{tmp_path}"])
    sched.load_state_dict({**sched.state_dict(), "step": 4995})
    for _ in range(3):
        opt.step()
        sched.step()
    opt.step()
    with pytest.raises(ValueError, match=r"gave lr=nan at step 4999 for group 'g0'; every applied value must be finite"):
        sched.step()
    assert sched.current_step == 4999 and opt.param_groups[0]["lr"] == 1e-3  # nothing half-written
    sched.close()
    assert ps.replay.load(tmp_path).frame.index.tolist() == list(range(4995, 4999))


def test_a_function_returning_text_off_the_check_grid_names_schedule_key_group_and_step():
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.FunctionSchedule(_text_at_5001)}, 10_000)
    sched.load_state_dict({**sched.state_dict(), "step": 5000})
    opt.step()
    with pytest.raises(TypeError, match=r"schedules\['lr'\] failed for lr of group 'g0' at step 5001: TypeError: "
                                        r"fn=.*_text_at_5001 must return a real number, got '0.001'"):
        sched.step()
    assert sched.current_step == 5001


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"base_values": {"hp/lr/g0": -1.0}}, ValueError, r"gives lr=-1.0 \(base -1.0 x schedule\) .*lr must be >= 0"),
        ({"base_values": {"hp/lr/g0": "big"}}, TypeError, r"state_dict\['base_values'\]\['hp/lr/g0'\] must be a real number"),
        ({"planned_total_steps": "abc"}, TypeError, r"planned_total_steps'\] must be an int >= 1, got .*='abc'"),
        ({"planned_total_steps": 10.7}, TypeError, r"planned_total_steps'\] must be an int >= 1, got .*=10.7"),
        ({"planned_total_steps": -3}, ValueError, r"planned_total_steps'\] must be an int >= 1, got .*=-3"),
        ({"step": -1}, ValueError, r"state_dict\['step'\] must be an int >= 0"),
        ({"fingerprint": None}, TypeError, r"state_dict\['fingerprint'\] must be a string"),
        ({"interventions": "none"}, TypeError, r"state_dict\['interventions'\] must be a list"),
    ],
)
def test_a_bad_checkpoint_is_refused_before_anything_changes(change, error, match):
    opt = _opt()
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(1.0)}, 10, relative=True)
    state = {**sched.state_dict(), "step": 3, **change}
    with pytest.raises(error, match=match):
        sched.load_state_dict(state)
    assert sched.current_step == 0 and opt.param_groups[0]["lr"] == 1e-3


def test_a_checkpoint_missing_an_entry_names_it():
    sched = ps.ParamScheduler(_opt(), {"lr": ps.Constant(1e-3)}, 10)
    state = sched.state_dict()
    del state["fingerprint"]
    with pytest.raises(ValueError, match=r"state_dict has no \['fingerprint'\] entries"):
        sched.load_state_dict(state)


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("maximize", r"holds a bool \(False: a switch, not a number\) under 'maximize'; only numeric entries"),
        ("foreach", r"holds None \(NoneType\) under 'foreach'; only numeric entries"),
        ("amsgrad", r"holds a bool .* under 'amsgrad'"),
    ],
)
def test_only_numeric_entries_can_be_scheduled(key, match):
    with pytest.raises(ValueError, match=match):
        ps.ParamScheduler(_opt(), {key: ps.Constant(0.001)}, 10)


def test_a_tuple_element_has_one_spelling():
    with pytest.raises(ValueError, match=r"a tuple element is written 'betas.1', got key='betas.01'"):
        ps.ParamScheduler(_opt(), {"betas.01": ps.Constant(0.99)}, 10)
    sched = ps.ParamScheduler(_opt(), {"betas.1": ps.Constant(0.99)}, 10)
    assert sched.series == ["hp/betas.1/g0"]


def test_a_spec_type_that_is_not_a_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"spec type must be one of .*, got type=\['Linear'\]"):
        ps.schedule_from_spec({"type": ["Linear"]})
