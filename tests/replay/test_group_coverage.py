"""A group that a log holds no series for is an error at construction, unless the caller says
how to fill it (issue 12.4): ``groups="broadcast"``, a ``groups={logged: [labels]}`` mapping, or
a schedule of its own."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import paramsched as ps
from paramsched.replay import Trajectory

LR = [0.0, 0.5, 1.0, 0.25]


def two_groups(names: tuple[str, str] | None = None) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))]}, {"params": [torch.nn.Parameter(torch.zeros(1))]}]
    if names:
        for group, name in zip(groups, names):
            group["name"] = name
    return torch.optim.AdamW(groups, lr=9.0)


def applied(opt: torch.optim.Optimizer, schedules: dict) -> list[list[float]]:
    seen = []
    with ps.ParamScheduler(opt, schedules, total_steps=len(LR)) as sched:
        for _ in LR:
            seen.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
    return seen


@pytest.fixture
def hf_like() -> Trajectory:
    """What a Hugging Face log holds: group 0's lr only."""
    return Trajectory.from_wide(pd.DataFrame({"step": range(len(LR)), "hp/lr/g0": LR}))


def test_a_group_without_a_replayed_series_is_an_error_naming_it(hf_like):
    with pytest.raises(
        ValueError,
        match=r"schedules replay 'lr' for group\(s\) \['g0'\] only: group\(s\) \['g1'\] have no replayed series "
        r"for 'lr' and would keep their own value; pass traj\.schedules\(groups='broadcast'\).*"
        r"traj\.schedules\(groups=\{'g0': \['g0', 'g1'\]\}\)",
    ):
        ps.ParamScheduler(two_groups(), hf_like.schedules(), total_steps=len(LR))


def test_named_groups_are_named_in_the_error():
    traj = Trajectory.from_wide(pd.DataFrame({"step": range(len(LR)), "hp/lr/decay": LR}))
    with pytest.raises(ValueError, match=r"group\(s\) \['no_decay'\] have no replayed series for 'lr'"):
        ps.ParamScheduler(two_groups(("decay", "no_decay")), traj.schedules(), total_steps=len(LR))


def test_broadcast_explicit_mapping_or_own_schedule_fill_the_group(hf_like):
    expected = [[lr, lr] for lr in LR]
    assert applied(two_groups(), hf_like.schedules(groups="broadcast")) == expected
    assert applied(two_groups(), hf_like.schedules(groups={"g0": ["g0", "g1"]})) == expected
    named = hf_like.schedules(groups={"g0": ["decay", "no_decay"]})
    assert sorted(named) == [("lr", "decay"), ("lr", "no_decay")]
    assert applied(two_groups(("decay", "no_decay")), named) == expected
    # or the caller schedules the other group: a global key or a (key, group) entry
    assert applied(two_groups(), {**hf_like.schedules(), ("lr", "g1"): ps.Constant(0.1)}) == [[lr, 0.1] for lr in LR]
    assert applied(two_groups(), {"lr": ps.Constant(0.1), **hf_like.schedules()}) == [[lr, 0.1] for lr in LR]


def test_a_key_the_log_does_not_hold_is_not_the_logs_business(hf_like):
    # weight_decay is not replayed at all: the groups keep theirs, as with any unscheduled key
    opt = two_groups()
    applied(opt, hf_like.schedules(groups="broadcast"))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.01]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"g9": ["a"]}, r"groups \['g9'\] not in this trajectory; it has groups \['g0'\]"),
        ({"g0": []}, r"a non-empty list of them .* got groups\['g0'\]=\[\]"),
        ({"g0": ["a", "bad|label"]}, r"got groups\['g0'\]=\['a', 'bad\|label'\]"),
        ({"g0": ["a", 3]}, r"got groups\['g0'\]=\['a', 3\]"),
        ({"g0": ["a", "a"]}, r"gives several groups the label\(s\) \['a'\]"),
        ("all", r"groups must be None, a dict \{old_label: new_label\} or 'broadcast', got groups='all'"),
    ],
)
def test_bad_group_mappings(hf_like, groups, message):
    with pytest.raises((ValueError, TypeError), match=message):
        hf_like.schedules(groups=groups)
