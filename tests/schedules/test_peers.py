"""Every torch, Hugging Face and timm schedule, in one paramsched line, checked at every step.

Each case is a schedule as a user has it today (the peer's scheduler on a real
optimizer, stepped in the usual loop), the one paramsched expression that
reproduces it (the line docs/migration.md gives) and the ``from_torch`` /
``from_hf`` / ``from_timm`` line that runs the peer's own code. At run lengths
7, 101 and 1000, every step: the expression within 1e-12 relative, the
``from_*`` schedule exactly (``==``). timm cases run when timm is importable.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import paramsched as ps
from paramsched.schedules import PeerSchedule, UntrustedFunctionError, schedule_from_spec
from paramsched.schedules.peers import PeerNotInstalledError

LR = 0.1
TOTALS = (7, 101, 1000)
HAS_TIMM = importlib.util.find_spec("timm") is not None
try:
    import timm.scheduler  # noqa: F401
except Exception:  # noqa: BLE001 - timm installed but broken (needs torchvision): same as absent
    HAS_TIMM = False


# Module-level functions (LambdaLR and MultiplicativeLR need one; paramsched stores its path).
def inverse_decay(step: int) -> float:
    return 1.0 / (1.0 + step / 10.0)


def inverse_decay_schedule(step: int, total_steps: int) -> float:
    return inverse_decay(step)


def constant_factor(step: int) -> float:
    return 0.95


@dataclasses.dataclass(frozen=True)
class Case:
    """``native(opt, T)``: the peer as a user builds it; ``ours(T)``: the paramsched line;
    ``peer(T)``: the from_* line."""

    name: str
    library: str
    native: Callable[[torch.optim.Optimizer, int], Any]
    ours: Callable[[int], ps.Schedule]
    peer: Callable[[int], PeerSchedule]
    read: str = "lr"


def simple(name: str, library: str, scheduler: str, kwargs: Callable[[int], dict], ours, read="lr") -> Case:
    """A case whose peer takes plain arguments: native and from_* share them."""
    module = {"torch": torch.optim.lr_scheduler, "hf": None, "timm": None}[library]

    def native(opt, total):
        if library == "torch":
            return getattr(module, scheduler)(opt, **kwargs(total))
        if library == "hf":
            from transformers import optimization

            return getattr(optimization, scheduler)(opt, **kwargs(total))
        import timm.scheduler as timm_scheduler

        return getattr(timm_scheduler, scheduler)(opt, t_in_epochs=False, **kwargs(total))

    def peer(total):
        if library == "torch":
            return ps.from_torch(getattr(module, scheduler), base=LR, read=read, **kwargs(total))
        if library == "hf":
            return ps.from_hf(scheduler, base=LR, **kwargs(total))
        return ps.from_timm(scheduler, base=LR, t_in_epochs=False, **kwargs(total))

    return Case(name, library, native, ours, peer, read)


def W(total: int) -> int:  # noqa: N802 - the warmup every case uses
    return max(1, total // 10)


def D(total: int) -> int:  # noqa: N802 - the WSD decay
    return max(1, total // 5)


def sequential_native(opt, total):
    lr = torch.optim.lr_scheduler
    warm = lr.LinearLR(opt, start_factor=0.1, total_iters=W(total))
    cosine = lr.CosineAnnealingLR(opt, T_max=total - W(total))
    return lr.SequentialLR(opt, schedulers=[warm, cosine], milestones=[W(total)])


def sequential_peer(total):
    warm = ps.from_torch("LinearLR", start_factor=0.1, total_iters=W(total))
    cosine = ps.from_torch("CosineAnnealingLR", T_max=total - W(total))
    return ps.from_torch("SequentialLR", base=LR, schedulers=[warm, cosine], milestones=[W(total)])


def chained_native(opt, total):
    lr = torch.optim.lr_scheduler
    return lr.ChainedScheduler(
        [lr.ConstantLR(opt, factor=0.5, total_iters=max(1, total // 4)), lr.ExponentialLR(opt, gamma=0.95)]
    )


def chained_peer(total):
    parts = [ps.from_torch("ConstantLR", factor=0.5, total_iters=max(1, total // 4)),
             ps.from_torch("ExponentialLR", gamma=0.95)]  # fmt: skip
    return ps.from_torch("ChainedScheduler", base=LR, schedulers=parts)


def onecycle(**extra):
    return lambda total: {"max_lr": LR, "total_steps": total, **extra}


def quarter(total: int) -> int:
    return max(1, total // 4)


TORCH_CASES = [
    Case("LambdaLR", "torch",
         lambda opt, t: torch.optim.lr_scheduler.LambdaLR(opt, inverse_decay),
         lambda t: ps.FunctionSchedule(inverse_decay_schedule) * LR,
         lambda t: ps.from_torch(torch.optim.lr_scheduler.LambdaLR, base=LR, lr_lambda=inverse_decay)),
    Case("MultiplicativeLR", "torch",
         lambda opt, t: torch.optim.lr_scheduler.MultiplicativeLR(opt, constant_factor),
         lambda t: ps.Exponential(LR, gamma=0.95),
         lambda t: ps.from_torch("MultiplicativeLR", base=LR, lr_lambda=constant_factor)),
    simple("StepLR", "torch", "StepLR", lambda t: {"step_size": quarter(t), "gamma": 0.5},
           lambda t: ps.Step(LR, step_size=quarter(t), gamma=0.5)),
    simple("MultiStepLR", "torch", "MultiStepLR", lambda t: {"milestones": [t // 3, 2 * t // 3]},
           lambda t: ps.Step(LR, milestones=[t // 3, 2 * t // 3], gamma=0.1)),
    simple("ConstantLR", "torch", "ConstantLR", lambda t: {"total_iters": quarter(t)},
           lambda t: ps.Step(LR / 3, milestones=[quarter(t)], gamma=3.0)),
    simple("LinearLR", "torch", "LinearLR", lambda t: {"start_factor": 0.25, "total_iters": t // 2},
           lambda t: ps.PiecewiseLinear([(0, LR * 0.25), (t // 2, LR)])),
    simple("ExponentialLR", "torch", "ExponentialLR", lambda t: {"gamma": 0.99},
           lambda t: ps.Exponential(LR, gamma=0.99)),
    simple("PolynomialLR", "torch", "PolynomialLR", lambda t: {"total_iters": t, "power": 2.0},
           lambda t: ps.Polynomial(LR, 0.0, power=2.0)),
    simple("CosineAnnealingLR", "torch", "CosineAnnealingLR", lambda t: {"T_max": t, "eta_min": 1e-3},
           lambda t: ps.Cosine(LR, 1e-3)),
    simple("CosineAnnealingLR(T_max<T)", "torch", "CosineAnnealingLR", lambda t: {"T_max": max(1, t // 3)},
           lambda t: ps.Cyclic(ps.Cosine(LR, 0.0, cycles=1.0), period=2 * max(1, t // 3))),
    simple("CosineAnnealingWarmRestarts", "torch", "CosineAnnealingWarmRestarts",
           lambda t: {"T_0": quarter(t), "eta_min": 1e-3},
           lambda t: ps.WarmRestarts(ps.Cosine(LR, 1e-3), period=quarter(t))),
    simple("CosineAnnealingWarmRestarts(T_mult=2)", "torch", "CosineAnnealingWarmRestarts",
           lambda t: {"T_0": max(1, t // 10), "T_mult": 2},
           lambda t: ps.WarmRestarts(ps.Cosine(LR, 0.0), period=max(1, t // 10), mult=2.0)),
    simple("CyclicLR(triangular)", "torch", "CyclicLR",
           lambda t: {"base_lr": 0.01, "max_lr": LR, "step_size_up": max(1, t // 8), "cycle_momentum": False},
           lambda t: ps.Triangular(0.01, LR, up=max(1, t // 8))),
    simple("CyclicLR(triangular2)", "torch", "CyclicLR",
           lambda t: {"base_lr": 0.01, "max_lr": LR, "step_size_up": max(1, t // 10),
                      "step_size_down": max(1, t // 6), "mode": "triangular2", "cycle_momentum": False},
           lambda t: ps.Triangular(0.01, LR, up=max(1, t // 10), down=max(1, t // 6), mode="triangular2")),
    simple("CyclicLR(exp_range)", "torch", "CyclicLR",
           lambda t: {"base_lr": 0.01, "max_lr": LR, "step_size_up": max(1, t // 8), "mode": "exp_range",
                      "gamma": 0.995, "cycle_momentum": False},
           lambda t: ps.Triangular(0.01, LR, up=max(1, t // 8), mode="exp_range", gamma=0.995)),
    simple("OneCycleLR", "torch", "OneCycleLR", onecycle(), lambda t: ps.OneCycle(LR, shape="cos")),
    simple("OneCycleLR(linear)", "torch", "OneCycleLR", onecycle(anneal_strategy="linear"),
           lambda t: ps.OneCycle(LR, shape="linear")),
    simple("OneCycleLR(three_phase)", "torch", "OneCycleLR", onecycle(three_phase=True),
           lambda t: ps.OneCycle(LR, three_phase=True)),
    simple("OneCycleLR(three_phase, linear)", "torch", "OneCycleLR",
           onecycle(three_phase=True, anneal_strategy="linear"),
           lambda t: ps.OneCycle(LR, shape="linear", three_phase=True)),
    simple("OneCycleLR(momentum)", "torch", "OneCycleLR", onecycle(),
           lambda t: ps.OneCycle(0.85, initial=0.95, final=0.95), read="momentum"),
    Case("SequentialLR", "torch", sequential_native,
         lambda t: ps.WarmupThen(ps.Cosine(LR, 0.0), steps=W(t), start=LR * 0.1), sequential_peer),
    Case("ChainedScheduler", "torch", chained_native,
         lambda t: ps.Step(LR * 0.5, [quarter(t)], gamma=2.0) * ps.Exponential(1.0, gamma=0.95),
         chained_peer),
]  # fmt: skip

HF_CASES = [
    simple("constant", "hf", "get_constant_schedule", lambda t: {}, lambda t: ps.Constant(LR)),
    simple("constant_with_warmup", "hf", "get_constant_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t)}, lambda t: ps.WarmupThen(ps.Constant(LR), W(t))),
    simple("linear", "hf", "get_linear_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t},
           lambda t: ps.WarmupThen(ps.Linear(LR, 0.0), W(t))),
    simple("cosine", "hf", "get_cosine_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t},
           lambda t: ps.WarmupThen(ps.Cosine(LR, 0.0), W(t))),
    simple("cosine(num_cycles=1.5)", "hf", "get_cosine_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t, "num_cycles": 1.5},
           lambda t: ps.WarmupThen(ps.Cosine(LR, 0.0, cycles=1.5), W(t))),
    simple("cosine_with_restarts(num_cycles=3)", "hf", "get_cosine_with_hard_restarts_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t, "num_cycles": 3},
           lambda t: ps.WarmupThen(ps.Cyclic(ps.Cosine(LR, 0.0), cycles=3), W(t))),
    simple("polynomial", "hf", "get_polynomial_decay_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t, "lr_end": 1e-4, "power": 2.0},
           lambda t: ps.WarmupThen(ps.Polynomial(LR, 1e-4, power=2.0), W(t))),
    simple("inverse_sqrt", "hf", "get_inverse_sqrt_schedule", lambda t: {"num_warmup_steps": W(t)},
           lambda t: ps.InverseSqrt(LR, warmup=W(t))),
    simple("inverse_sqrt(no warmup)", "hf", "get_inverse_sqrt_schedule", lambda t: {"num_warmup_steps": 0},
           lambda t: ps.InverseSqrt(LR, warmup=0, timescale=10_000)),
    simple("inverse_sqrt(timescale)", "hf", "get_inverse_sqrt_schedule",
           lambda t: {"num_warmup_steps": W(t), "timescale": max(1, t // 2)},
           lambda t: ps.InverseSqrt(LR, warmup=W(t), timescale=max(1, t // 2))),
    simple("cosine_with_min_lr", "hf", "get_cosine_with_min_lr_schedule_with_warmup",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t, "min_lr_rate": 0.1},
           lambda t: ps.WarmupThen(ps.Cosine(LR, LR * 0.1), W(t))),
    simple("cosine_warmup_with_min_lr", "hf", "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
           lambda t: {"num_warmup_steps": W(t), "num_training_steps": t, "min_lr_rate": 0.1},
           lambda t: ps.TimeShift(ps.WarmupThen(ps.Cosine(LR, LR * 0.1), W(t)), 1)),
    simple("warmup_stable_decay", "hf", "get_wsd_schedule",
           lambda t: {"num_warmup_steps": W(t), "num_decay_steps": D(t), "num_training_steps": t},
           lambda t: ps.WarmupStableDecay(LR, warmup=W(t), decay=D(t))),
    simple("warmup_stable_decay(1-sqrt)", "hf", "get_wsd_schedule",
           lambda t: {"num_warmup_steps": W(t), "num_decay_steps": D(t), "num_training_steps": t,
                      "warmup_type": "1-sqrt", "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
           lambda t: ps.WarmupStableDecay(LR, warmup=W(t), decay=D(t), start=LR * 0.1, end=LR * 0.1,
                                          warmup_shape="1-sqrt", decay_shape="1-sqrt")),
]  # fmt: skip

TIMM_CASES = [
    simple("CosineLRScheduler", "timm", "CosineLRScheduler",
           lambda t: {"t_initial": t - W(t), "lr_min": 1e-3, "warmup_t": W(t), "warmup_lr_init": 1e-4,
                      "warmup_prefix": True},
           lambda t: ps.WarmupThen(ps.Cosine(LR, 1e-3), W(t), start=1e-4)),
    simple("CosineLRScheduler(warmup_prefix=False)", "timm", "CosineLRScheduler",
           lambda t: {"t_initial": t, "warmup_t": W(t), "warmup_lr_init": 1e-4},
           lambda t: ps.WarmupThen(ps.Cosine(LR, 0.0), W(t), start=1e-4, prefix=False, peak=LR)),
    simple("CosineLRScheduler(cycles)", "timm", "CosineLRScheduler",
           lambda t: {"t_initial": max(1, t // 7), "cycle_mul": 2.0, "cycle_decay": 0.5, "cycle_limit": 3},
           lambda t: ps.WarmRestarts(ps.Cosine(LR, 0.0), max(1, t // 7), 2.0, decay=0.5, limit=3)),
    simple("TanhLRScheduler", "timm", "TanhLRScheduler",
           lambda t: {"t_initial": t, "warmup_t": W(t), "warmup_lr_init": 1e-4},
           lambda t: ps.WarmupThen(ps.Tanh(LR, 0.0), W(t), start=1e-4, prefix=False)),
    simple("StepLRScheduler", "timm", "StepLRScheduler",
           lambda t: {"decay_t": quarter(t), "decay_rate": 0.5, "warmup_t": W(t), "warmup_lr_init": 1e-4},
           lambda t: ps.WarmupThen(ps.Step(LR, step_size=quarter(t), gamma=0.5), W(t), start=1e-4)),
    simple("MultiStepLRScheduler", "timm", "MultiStepLRScheduler",
           lambda t: {"decay_t": [t // 3, 2 * t // 3], "decay_rate": 0.1},
           lambda t: ps.Step(LR, milestones=[m - 1 for m in (t // 3, 2 * t // 3)], gamma=0.1)),
    simple("PolyLRScheduler", "timm", "PolyLRScheduler",
           lambda t: {"t_initial": t, "power": 0.5, "lr_min": 1e-3, "warmup_t": W(t), "warmup_lr_init": 1e-4},
           lambda t: ps.WarmupThen(ps.Polynomial(LR, 1e-3, power=0.5), W(t), start=1e-4, prefix=False, peak=LR)),
]  # fmt: skip

CASES = TORCH_CASES + HF_CASES + TIMM_CASES


def needs_library(case: Case):
    return pytest.mark.skipif(case.library == "timm" and not HAS_TIMM, reason="timm is not importable")


PARAMS = [pytest.param(case, id=case.name, marks=needs_library(case)) for case in CASES]


def native_values(case: Case, total: int) -> list[float]:
    """The value in effect during each update of a plain training loop with the peer."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=LR, momentum=0.9)
    sched = case.native(opt, total)
    group = opt.param_groups[0]
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for step in range(total):
            if case.library == "timm":
                sched.step_update(step)  # timm: the value for update `step`
            values.append(float(group[case.read]))
            opt.step()
            if case.library != "timm" and step < total - 1:
                sched.step()
    return values


def test_there_are_43_peer_cases_covering_every_peer_schedule():
    assert len(CASES) == 43
    covered = {case.name.split("(")[0] for case in TORCH_CASES}
    assert covered == set(torch.optim.lr_scheduler.__all__) - {"LRScheduler", "ReduceLROnPlateau"}
    from transformers import optimization

    hf = {f.__name__ for f in optimization.TYPE_TO_SCHEDULER_FUNCTION.values()}
    hf -= {"get_reduce_on_plateau_schedule", "get_greedy_schedule"}  # metric-driven: policies
    assert {case.peer(101).peer.split(":")[1] for case in HF_CASES} == hf
    timm = {"CosineLRScheduler", "TanhLRScheduler", "StepLRScheduler", "MultiStepLRScheduler", "PolyLRScheduler"}
    assert {case.name.split("(")[0] for case in TIMM_CASES} == timm  # PlateauLRScheduler: a metric


@pytest.mark.parametrize("case", PARAMS)
def test_one_paramsched_line_reproduces_the_peer_at_every_step(case):
    for total in TOTALS:
        expected = native_values(case, total)
        ours = case.ours(total)
        ours.validate(total)
        got = [ours(k, total) for k in range(total)]
        bad = [
            (k, g, e) for k, (g, e) in enumerate(zip(got, expected, strict=True))
            if not (g == e or abs(g - e) <= 1e-12 * abs(e))
        ]  # fmt: skip
        assert not bad, (case.name, total, bad[:5])


@pytest.mark.parametrize("case", PARAMS)
def test_from_peer_is_the_peers_own_values_exactly(case):
    for total in TOTALS:
        peer = case.peer(total)
        peer.validate(total)
        assert [peer(k, total) for k in range(total)] == native_values(case, total), (case.name, total)


@pytest.mark.parametrize("case", PARAMS)
def test_from_peer_specs_rebuild_from_a_log_and_pickle(case):
    peer = case.peer(101)
    spec = json.loads(json.dumps(peer.to_spec(), allow_nan=False))
    functions = [v["function"] for v in spec["kwargs"].values() if isinstance(v, dict) and "function" in v]
    if functions:  # a function argument is code: rebuilt only when trusted, like FunctionSchedule
        with pytest.raises(UntrustedFunctionError, match="rebuilding it would import and call"):
            schedule_from_spec(spec, trust_functions=False)
        back = schedule_from_spec(spec, trust_functions=functions)
    else:
        back = schedule_from_spec(spec, trust_functions=False)
    copy = pickle.loads(pickle.dumps(peer))
    for other in (back, copy):
        assert other == peer and hash(other) == hash(peer) and repr(other) == repr(peer)
        assert [other(k, 101) for k in range(101)] == [peer(k, 101) for k in range(101)]


# -- the migration path: any key, the run's length, the cache ------------------------------


def test_the_contract_examples():
    onecycle = ps.from_torch(torch.optim.lr_scheduler.OneCycleLR, base=1.0, max_lr=1e-2, total_steps=1000)
    cosine = ps.from_hf("cosine", num_warmup_steps=100)
    assert cosine(50, 1000) == 0.5 and cosine(100, 1000) == 1.0
    assert max(onecycle(k, 1000) for k in range(1000)) == pytest.approx(1e-2, rel=1e-12)


def test_a_peer_drives_any_key_and_is_recorded_and_replayed(tmp_path):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    momentum = ps.from_torch("OneCycleLR", max_lr=0.1, read="momentum")  # total_steps: the run's
    wd = ps.from_hf("cosine", num_warmup_steps=5) * 1e-4
    with ps.ParamScheduler(opt, {"lr": ps.from_hf("linear", base=0.1, num_warmup_steps=5),
                                 "momentum": momentum, "weight_decay": wd},
                           total_steps=40, recorders=[f"csv:{tmp_path / 'run'}"]) as sched:  # fmt: skip
        for _ in range(40):
            opt.step()
            sched.step()
    traj = ps.replay.load(tmp_path / "run")
    assert traj.frame["hp/momentum/g0"].tolist() == [momentum(k, 40) for k in range(40)]
    assert traj.frame["hp/weight_decay/g0"].tolist() == [wd(k, 40) for k in range(40)]
    rebuilt = ps.replay.rebuild(traj)  # from the log's specs, trust_functions=False
    assert rebuilt.schedules["momentum"] == momentum


def test_run_length_arguments_follow_the_run_unless_given():
    fitted = ps.from_hf("linear", num_warmup_steps=2)
    assert fitted(6, 10) == 0.5 and fitted(26, 50) == 0.5
    fixed = ps.from_hf("linear", num_warmup_steps=2, num_training_steps=10)
    assert fixed(6, 50) == 0.5
    assert ps.from_torch("CosineAnnealingLR")(5, 10) == pytest.approx(0.5, rel=1e-15)


def test_warmup_ratio_rounds_up_as_the_trainer_does():
    by_ratio = ps.from_hf("linear", warmup_ratio=0.1)
    as_steps = ps.from_hf("linear", num_warmup_steps=0.1)  # a float < 1: a ratio (TrainingArguments)
    explicit = ps.from_hf("linear", num_warmup_steps=11)  # ceil(0.1 * 101)
    for s in (by_ratio, as_steps):
        assert [s(k, 101) for k in range(101)] == [explicit(k, 101) for k in range(101)]
    # paramsched's own fractions round half to even: 10 steps at 101
    assert ps.WarmupThen(ps.Constant(1.0), 0.1)(10, 101) == 1.0 > by_ratio(10, 101)


def test_values_are_computed_once_per_run_length_and_cached():
    s = ps.from_torch("StepLR", step_size=3)
    field = {f.name: f for f in dataclasses.fields(s)}["_tables"]
    assert (field.init, field.compare, field.repr) == (False, False, False)
    s.validate(100)
    table = s._tables[100]
    assert s(5, 100) == table[5] and s._tables[100] is table
    assert s(-1, 100) == table[0] and s(500, 100) == table[-1]  # past the end: the last update's value
    for total in range(1, 20):
        s(0, total)
    assert len(s._tables) == 8  # a bounded cache
    assert pickle.loads(pickle.dumps(s))._tables == {}  # the configuration only


def test_peer_errors_name_the_problem():
    with pytest.raises(TypeError, match=r"StepLR needs step_size"):
        ps.from_torch("StepLR")
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'step'"):
        ps.from_torch("StepLR", step=3)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau follows a metric, not the step"):
        ps.from_torch(torch.optim.lr_scheduler.ReduceLROnPlateau)
    with pytest.raises(ValueError, match=r"follows a metric"):
        ps.from_hf("reduce_lr_on_plateau")
    with pytest.raises(ValueError, match=r"name must be one of 'linear', .* got name='cosin'"):
        ps.from_hf("cosin")
    with pytest.raises(TypeError, match=r"from_torch takes a scheduler of torch.optim.lr_scheduler"):
        ps.from_torch(dict)
    with pytest.raises(ValueError, match=r"last_epoch is paramsched's to set"):
        ps.from_torch("StepLR", step_size=3, last_epoch=4)
    with pytest.raises(TypeError, match=r"lambda or closure cannot be saved"):
        ps.from_torch("LambdaLR", lr_lambda=lambda k: 1.0)
    with pytest.raises(TypeError, match=r"a scheduler inside .*SequentialLR needs its run length"):
        ps.from_torch("SequentialLR", schedulers=[ps.from_torch("CosineAnnealingLR")], milestones=[])
    with pytest.raises(ValueError, match=r"read='momentum' is for torch's OneCycleLR and CyclicLR"):
        ps.PeerSchedule("transformers.optimization:get_constant_schedule", read="momentum")
    too_short = ps.from_torch("OneCycleLR", max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match=r"cannot run total_steps=20: ValueError: Tried to step 11 times"):
        too_short.validate(20)


@pytest.mark.parametrize(
    "peer",
    ["os:system", "builtins:eval", "torch.optim:SGD", "torch.optim.lr_scheduler:Optimizer",
     "transformers.optimization:Adafactor", "timm.models:create_model", "torch.optim.lr_scheduler.x:y"],
)  # fmt: skip
def test_a_spec_from_a_log_names_only_peer_schedulers(peer):
    spec = {"type": "PeerSchedule", "peer": peer, "kwargs": {}, "base": 1.0, "read": "lr"}
    with pytest.raises(ValueError, match=r"peer must name a scheduler of|is not a scheduler of"):
        schedule_from_spec(spec, trust_functions=False)


def test_a_spec_function_argument_is_never_imported_untrusted():
    spec = {"type": "PeerSchedule", "peer": "torch.optim.lr_scheduler:LambdaLR",
            "kwargs": {"lr_lambda": {"function": "os:getpid"}}, "base": 1.0, "read": "lr"}  # fmt: skip
    with pytest.raises(UntrustedFunctionError, match=r"the spec names the function 'os:getpid'"):
        schedule_from_spec(spec, trust_functions=False)
    nested = {"type": "PeerSchedule", "peer": "torch.optim.lr_scheduler:SequentialLR",
              "kwargs": {"schedulers": [spec], "milestones": []}, "base": 1.0, "read": "lr"}  # fmt: skip
    with pytest.raises(UntrustedFunctionError):
        schedule_from_spec(nested, trust_functions=False)


@pytest.mark.skipif(HAS_TIMM, reason="timm is importable here")
def test_from_timm_without_timm_says_what_to_install():
    with pytest.raises(PeerNotInstalledError, match=r"from_timm needs timm, .*pip install timm"):
        ps.from_timm("CosineLRScheduler", t_initial=10)
    spec = {"type": "PeerSchedule", "peer": "timm.scheduler:CosineLRScheduler", "kwargs": {},
            "base": 1.0, "read": "lr"}  # fmt: skip
    with pytest.raises(ValueError, match=r"pip install timm"):  # a log naming it: "unavailable"
        schedule_from_spec(spec, trust_functions=False)


def test_peer_repr_is_the_migration_line():
    s = ps.from_torch("OneCycleLR", max_lr=0.01, total_steps=1000, base=2.0)
    assert repr(s) == "from_torch('OneCycleLR', max_lr=0.01, total_steps=1000, base=2.0)"
    assert repr(ps.from_torch("LambdaLR", lr_lambda=inverse_decay)).endswith(
        f"lr_lambda={__name__}.inverse_decay)"
    )
    assert ps.from_torch("MultiStepLR", milestones=np.array([3, 6])).kwargs == (("milestones", (3, 6)),)


def test_a_log_naming_another_module_never_imports_it():
    import subprocess
    import sys

    # A fresh process, so the module is certainly not imported yet: the spec is refused
    # before any import, and the module stays out of sys.modules.
    code = (
        "import sys, paramsched as ps\n"
        "spec = {'type': 'PeerSchedule', 'peer': 'tabnanny:check', 'kwargs': {}, 'base': 1.0, 'read': 'lr'}\n"
        "try:\n"
        "    ps.schedule_from_spec(spec, trust_functions=False)\n"
        "except ValueError as exc:\n"
        "    print('refused:', 'peer must name a scheduler of' in str(exc))\n"
        "print('imported:', 'tabnanny' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["refused:", "True", "imported:", "False"]


def test_the_migration_table_covers_every_peer_scheduler():
    from pathlib import Path

    from transformers import SchedulerType

    doc = (Path(__file__).parents[2] / "docs" / "migration.md").read_text(encoding="utf-8")
    torch_names = set(torch.optim.lr_scheduler.__all__) - {"LRScheduler"}
    timm_names = {"CosineLRScheduler", "TanhLRScheduler", "StepLRScheduler", "MultiStepLRScheduler",
                  "PolyLRScheduler", "PlateauLRScheduler"}  # fmt: skip
    rows = [line.split("|")[1] for line in doc.splitlines() if line.startswith("| `")]
    for name in sorted(torch_names | timm_names):
        assert any(row.strip().startswith(f"`{name}") for row in rows), name
    for kind in SchedulerType:
        if kind.value != "greedy":
            assert any(row.strip().startswith(f"`{kind.value}") for row in rows), kind.value
    assert "`get_greedy_schedule`" in doc
