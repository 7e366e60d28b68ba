"""The schedulers people already use, as schedules: torch's, Hugging Face's and timm's own code.

``from_torch``, ``from_hf`` and ``from_timm`` build a :class:`PeerSchedule`: the
peer's scheduler runs on a private dummy optimizer (one parameter, plain SGD
with ``lr=base``) for the run's ``total_steps`` and the value of every step is
read from it, so the curve is the peer's by construction, bit for bit. The
values are computed once per run length and cached. A PeerSchedule is a
schedule like any other: it drives any key (momentum, weight decay,
``betas.0``), is recorded, replayed and saved as a spec naming the peer and its
arguments.

>>> import torch, paramsched as ps
>>> s = ps.from_torch(torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.5)
>>> [s(k, 6) for k in range(6)]
[1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
>>> ps.from_hf("linear", num_warmup_steps=2)(1, 10)          # num_training_steps is the run's
0.5
>>> ps.schedule_from_spec(s.to_spec(), trust_functions=False) == s
True

A spec can only name the peer libraries' schedulers
(``torch.optim.lr_scheduler``, ``transformers.optimization``, ``timm.scheduler``):
reading one from a log never imports anything else. A function argument
(``LambdaLR``'s ``lr_lambda``) is stored as its import path and, like a
``FunctionSchedule``, rebuilt only when trusted.

**The run's length.** An argument that is the peer's run length (torch
``OneCycleLR(total_steps)`` and ``CosineAnnealingLR(T_max)``, Hugging Face
``num_training_steps``, timm ``t_initial``) takes the run's ``total_steps`` when
left out, so the schedule fits any run; given, it stays fixed. Hugging Face's
warmup may be given as ``warmup_ratio=0.1`` or ``num_warmup_steps=0.1``: it is
``ceil(0.1 * total_steps)`` steps, as ``TrainingArguments`` rounds it.

**base** is the dummy optimizer's ``lr``: with the default 1.0 a proportional
peer gives its multiplier (use the schedule times your value, or
``relative=True``); peers whose values are absolute (``CyclicLR``'s
``base_lr``/``max_lr``, ``OneCycleLR``'s ``max_lr``) ignore it, and those that
mix both (Hugging Face ``polynomial``'s ``lr_end``) need the real one.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import numbers
import re
from collections.abc import Collection, Mapping
from typing import Any

from paramsched.checks import check_choice, check_positive_int, check_real, describe
from paramsched.schedules._base import Schedule, _check_trust, schedule_from_spec
from paramsched.schedules.function import _check_fn, _import

__all__ = ["PeerNotInstalledError", "PeerSchedule", "from_hf", "from_timm", "from_torch"]

TORCH = "torch.optim.lr_scheduler"
HF = "transformers.optimization"
TIMM = "timm.scheduler"
# The modules a peer may come from, and the distribution that provides each.
PEER_MODULES = {TORCH: "torch", HF: "transformers", TIMM: "timm"}
_BUILDERS = {TORCH: "from_torch", HF: "from_hf", TIMM: "from_timm"}
_PEER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

# Peers whose values depend on a metric, not on the step: not schedules.
_METRIC_DRIVEN = {
    "ReduceLROnPlateau": "ps.policies.ReduceOnPlateau",
    "get_reduce_on_plateau_schedule": "ps.policies.ReduceOnPlateau",
    "get_greedy_schedule": "a policy (ps.policies)",
    "PlateauLRScheduler": "ps.policies.ReduceOnPlateau",
}
# Arguments that are the peer's run length: filled with total_steps when left out.
_RUN_LENGTH = {
    f"{TORCH}:OneCycleLR": "total_steps",
    f"{TORCH}:CosineAnnealingLR": "T_max",
    f"{TIMM}:CosineLRScheduler": "t_initial",
    f"{TIMM}:TanhLRScheduler": "t_initial",
    f"{TIMM}:PolyLRScheduler": "t_initial",
}
# Arguments paramsched owns: the dummy optimizer, and resuming (it replays steps itself).
_RESERVED = ("optimizer", "last_epoch")
# Run lengths whose values are kept (a scheduler validates and runs one; simulate,
# dashboards or an extended run may ask for a few others).
_CACHED_RUN_LENGTHS = 8
_READ = ("lr", "momentum")


class PeerNotInstalledError(ImportError, ValueError):
    """A peer schedule names a library that is not importable here (the message says
    what to install). A ``ValueError`` too, so reading a log that names one reports
    the schedule as unavailable instead of failing."""


def _library(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        package = PEER_MODULES[module_name]
        raise PeerNotInstalledError(
            f"{_BUILDERS[module_name]} needs {package}, which cannot be imported here ({exc}): "
            f"pip install {package}"
        ) from None


def _resolve(peer: Any) -> Any:
    """The class or function ``peer`` names, checked to be a scheduler of a peer library.

    The module is checked against :data:`PEER_MODULES` before anything is imported.
    """
    if not isinstance(peer, str):
        raise TypeError(f"peer must be a 'module:name' string, got peer={describe(peer)}")
    if not _PEER_PATH.match(peer):
        raise ValueError(f"peer must be a 'module:name' string, got peer={describe(peer)}")
    module_name, name = peer.split(":")
    if module_name not in PEER_MODULES:
        known = ", ".join(sorted(PEER_MODULES))
        raise ValueError(
            f"peer must name a scheduler of {known}, got peer={describe(peer)}; a peer "
            "schedule never imports other modules (use FunctionSchedule for your own code)"
        )
    if name in _METRIC_DRIVEN:
        raise ValueError(
            f"{name} follows a metric, not the step, so it is not a schedule: use "
            f"{_METRIC_DRIVEN[name]} (got peer={describe(peer)})"
        )
    module = _library(module_name)
    obj = getattr(module, name, None)
    if module_name == TORCH:
        base = module.LRScheduler
        ok = isinstance(obj, type) and issubclass(obj, base) and obj not in (base, module._LRScheduler)
    elif module_name == HF:
        allowed = {fn.__name__ for fn in module.TYPE_TO_SCHEDULER_FUNCTION.values()}
        ok = name in allowed and callable(obj)
    else:
        base = importlib.import_module("timm.scheduler.scheduler").Scheduler
        ok = isinstance(obj, type) and issubclass(obj, base) and obj is not base
    if not ok:
        raise ValueError(f"peer={describe(peer)} is not a scheduler of {module_name}")
    return obj


def _normalize(name: str, value: Any, library: str) -> Any:
    """A peer argument as stored: hashable, and expressible in JSON."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, PeerSchedule):
        if library != TORCH or not value.peer.startswith(f"{TORCH}:"):
            raise TypeError(
                f"{name}: only torch schedulers (SequentialLR, ChainedScheduler) take other "
                f"schedulers, and only torch ones, got {name}={value!r}"
            )
        return value
    if hasattr(value, "tolist") and not callable(value):  # a numpy array or scalar
        value = value.tolist()
    if isinstance(value, (list, tuple, range)):
        return tuple(_normalize(f"{name}[{i}]", v, library) for i, v in enumerate(value))
    if callable(value):
        return _check_fn(name, value)
    raise TypeError(
        f"{name} must be a number, a string, a bool, None, a list of them, a module-level "
        f"function or (for torch's SequentialLR / ChainedScheduler) a from_torch(...) schedule, "
        f"got {name}={describe(value)}"
    )


def _to_json(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_spec()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if callable(value):
        return {"function": f"{value.__module__}:{value.__qualname__}"}
    return value


def _from_json(name: str, value: Any, trust_functions: bool | Collection[str]) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(f"{name}[{i}]", v, trust_functions) for i, v in enumerate(value))
    if isinstance(value, Mapping):
        if set(value) == {"function"}:
            path = value["function"]
            if not isinstance(path, str):
                raise TypeError(f"kwargs[{name!r}] must name a function as 'module:qualname', got {describe(path)}")
            _check_trust(path, trust_functions)  # before importing anything
            return _import(name, path)
        if "type" in value:
            return schedule_from_spec(value, trust_functions=trust_functions)
        raise TypeError(
            f"kwargs[{name!r}] in a PeerSchedule spec must be a plain value, a list, "
            f"a schedule spec or {{'function': 'module:qualname'}}, got {describe(value)}"
        )
    return value


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if callable(value) and not isinstance(value, Schedule):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


@dataclasses.dataclass(frozen=True, repr=False)
class PeerSchedule(Schedule):
    """A peer library's scheduler, run on a private dummy optimizer (see the module docstring).

    Build one with :func:`from_torch`, :func:`from_hf` or :func:`from_timm`.

    Args:
        peer: ``"module:name"`` of the scheduler class or function, in
            ``torch.optim.lr_scheduler``, ``transformers.optimization`` or
            ``timm.scheduler``.
        kwargs: its arguments (a mapping; stored as sorted ``(name, value)`` pairs),
            without the optimizer.
        base: the dummy optimizer's ``lr`` (1.0: the peer's multiplier).
        read: the group entry to read: ``"lr"``, or ``"momentum"`` for the momentum
            that torch's ``OneCycleLR`` and ``CyclicLR`` cycle.
    """

    peer: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    base: float = 1.0
    read: str = "lr"
    # Derived, never compared or saved: the peer itself, and the values of each run
    # length computed so far (total_steps -> one float per step).
    _scheduler: Any = dataclasses.field(init=False, repr=False, compare=False)
    _tables: dict[int, list[float]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        scheduler = _resolve(self.peer)
        library = self.peer.split(":")[0]
        if isinstance(self.kwargs, Mapping):
            pairs = list(self.kwargs.items())
        elif isinstance(self.kwargs, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in self.kwargs
        ):
            pairs = [tuple(p) for p in self.kwargs]
        else:
            raise TypeError(f"kwargs must be a mapping of argument -> value, got kwargs={describe(self.kwargs)}")
        for name, _ in pairs:
            if not isinstance(name, str):
                raise TypeError(f"kwargs must be keyed by argument names, got {describe(name)}")
            if name in _RESERVED:
                raise ValueError(
                    f"{name} is paramsched's to set (the peer runs on a private optimizer from "
                    f"step 0; resume with the ParamScheduler's state), got kwargs[{name!r}]"
                )
        kwargs = tuple(sorted((name, _normalize(name, value, library)) for name, value in pairs))
        object.__setattr__(self, "kwargs", kwargs)
        object.__setattr__(self, "base", check_real("base", self.base))
        check_choice("read", self.read, _READ)
        if self.read != "lr" and library != TORCH:
            raise ValueError(f"read={self.read!r} is for torch's OneCycleLR and CyclicLR, got peer={self.peer!r}")
        object.__setattr__(self, "_scheduler", scheduler)
        self._check_arguments(scheduler, dict(kwargs))

    def _check_arguments(self, scheduler: Any, kwargs: dict[str, Any]) -> None:
        """Unknown or missing arguments are a TypeError now, not when the run starts."""
        given = dict(kwargs)
        if self.peer.startswith(f"{HF}:"):
            if "warmup_ratio" in kwargs:
                if "num_warmup_steps" in kwargs:
                    raise ValueError(
                        "give warmup_ratio or num_warmup_steps, not both, got "
                        f"warmup_ratio={describe(kwargs['warmup_ratio'])}, "
                        f"num_warmup_steps={describe(kwargs['num_warmup_steps'])}"
                    )
                given["num_warmup_steps"] = given.pop("warmup_ratio")
        signature = inspect.signature(scheduler)
        try:
            signature.bind_partial(optimizer=None, **given)
        except TypeError as exc:
            raise TypeError(f"{self.peer}: {exc}") from None
        fillable = self._run_length_argument(signature, given)
        missing = [
            p.name for p in signature.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in given and p.name != "optimizer" and p.name != fillable
        ]  # fmt: skip
        if missing:
            raise TypeError(f"{self.peer} needs {', '.join(missing)}; got kwargs={describe(kwargs)}")
        for name, value in kwargs.items():
            for child in value if isinstance(value, tuple) else (value,):
                if isinstance(child, PeerSchedule) and child._run_length_argument(
                    inspect.signature(child._scheduler), dict(child.kwargs)
                ):
                    raise TypeError(
                        f"{name}: a scheduler inside {self.peer} needs its run length given, "
                        f"got {child!r}"
                    )

    def _run_length_argument(self, signature: inspect.Signature, given: Mapping[str, Any]) -> str | None:
        """The argument that takes the run's total_steps because it was left out, if any."""
        if self.peer == f"{TORCH}:OneCycleLR":
            return None if "total_steps" in given or "epochs" in given else "total_steps"
        if self.peer.startswith(f"{HF}:"):
            if "num_training_steps" not in signature.parameters or "num_training_steps" in given:
                return None
            return None if "num_stable_steps" in given else "num_training_steps"
        name = _RUN_LENGTH.get(self.peer)
        return None if name is None or name in given else name

    # -- evaluation -------------------------------------------------------------

    def _arguments(self, total_steps: int) -> dict[str, Any]:
        """The peer's keyword arguments for a ``total_steps``-step run."""
        kwargs = dict(self.kwargs)
        fill = self._run_length_argument(inspect.signature(self._scheduler), kwargs)
        if fill == "t_initial" and kwargs.get("warmup_prefix", False):
            kwargs[fill] = total_steps - kwargs.get("warmup_t", 0)
        elif fill is not None:
            kwargs[fill] = total_steps
        if self.peer.startswith(f"{HF}:"):
            ratio = kwargs.pop("warmup_ratio", None)
            warmup = kwargs.get("num_warmup_steps")
            if ratio is None and isinstance(warmup, float):
                ratio = None if warmup >= 1 else warmup
                kwargs["num_warmup_steps"] = int(warmup)
            if ratio is not None:
                kwargs["num_warmup_steps"] = math.ceil(total_steps * ratio)  # TrainingArguments' rule
        return kwargs

    def _instantiate(self, optimizer: Any, total_steps: int) -> Any:
        """The peer's scheduler on ``optimizer`` (nested peers first, on the same one)."""
        kwargs = {}
        for name, value in self._arguments(total_steps).items():
            if isinstance(value, tuple):
                value = [
                    v._instantiate(optimizer, total_steps) if isinstance(v, PeerSchedule) else v
                    for v in value
                ]
            kwargs[name] = value
        return self._scheduler(optimizer=optimizer, **kwargs)

    def _compute(self, total_steps: int) -> list[float]:
        import torch

        check_positive_int("total_steps", total_steps)
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=self.base)
        group = optimizer.param_groups[0]
        try:
            scheduler = self._instantiate(optimizer, total_steps)
            if self.peer.startswith(f"{TIMM}:"):
                advance = scheduler.step if scheduler.t_in_epochs else scheduler.step_update
                values = []
                for k in range(total_steps):
                    advance(k)
                    values.append(float(group["lr"]))
                return values
            lambdas = getattr(scheduler, "lr_lambdas", ())
            if type(scheduler) is torch.optim.lr_scheduler.LambdaLR and self.read == "lr" and len(lambdas) == 1:
                # What LambdaLR.step() computes, without the stepping: base_lr * lr_lambda(step).
                base_lr, fn = scheduler.base_lrs[0], lambdas[0]
                return [float(base_lr * fn(k)) for k in range(total_steps)]
            optimizer.step()  # no gradients, so no change: tells torch the loop runs in order
            values = [float(group[self.read])]
            for _ in range(total_steps - 1):
                scheduler.step()
                values.append(float(group[self.read]))
            return values
        except (ArithmeticError, AssertionError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{self!r} cannot run total_steps={total_steps}: {type(exc).__name__}: {exc}"
            ) from exc

    def values(self, total_steps: int) -> list[float]:
        """The value of every step of a ``total_steps``-step run (computed once, then cached)."""
        table = self._tables.get(total_steps)
        if table is None:
            table = self._compute(total_steps)
            if len(self._tables) >= _CACHED_RUN_LENGTHS:
                self._tables.pop(next(iter(self._tables)))
            self._tables[total_steps] = table
        return table

    def __call__(self, step: int, total_steps: int) -> float:
        table = self._tables.get(total_steps)
        if table is None:
            table = self.values(total_steps)
        try:
            return table[step] if step >= 0 else table[0]
        except IndexError:
            return table[-1]  # past the end: the last update's value
        except TypeError:
            raise TypeError(f"a peer schedule is defined at whole steps, got step={describe(step)}") from None

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        self.values(total_steps)

    # -- spec, repr, pickle --------------------------------------------------------

    def to_spec(self, *, compact: bool = False) -> dict[str, Any]:
        """``{"type": "PeerSchedule", "peer": "module:name", "kwargs": {...}, "base", "read"}``.

        A function argument is ``{"function": "module:qualname"}``; a nested peer is its spec.

        >>> import paramsched as ps
        >>> ps.from_hf("cosine", num_warmup_steps=100).to_spec()
        {'type': 'PeerSchedule', 'peer': 'transformers.optimization:get_cosine_schedule_with_warmup', 'kwargs': {'num_warmup_steps': 100}, 'base': 1.0, 'read': 'lr'}
        """
        return {
            "type": "PeerSchedule",
            "peer": self.peer,
            "kwargs": {name: _to_json(value) for name, value in self.kwargs},
            "base": self.base,
            "read": self.read,
        }

    @classmethod
    def _build_from_spec(
        cls, fields: Mapping[str, Any], trust_functions: bool | Collection[str]
    ) -> Schedule:
        kwargs = fields.get("kwargs", {})
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"kwargs in a PeerSchedule spec must be a dict, got kwargs={describe(kwargs)}")
        _resolve(fields.get("peer"))  # the peer is checked before any argument is rebuilt
        rebuilt = {name: _from_json(name, value, trust_functions) for name, value in kwargs.items()}
        return cls(**{**fields, "kwargs": rebuilt})

    def __repr__(self) -> str:
        module, name = self.peer.split(":")
        args = [repr(name)] + [f"{k}={_show(v)}" for k, v in self.kwargs]
        if self.base != 1.0:
            args.append(f"base={self.base!r}")
        if self.read != "lr":
            args.append(f"read={self.read!r}")
        return f"{_BUILDERS[module]}({', '.join(args)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the configuration: the peer is resolved and the values computed again on load.
        return (type(self), (self.peer, self.kwargs, self.base, self.read))


def _peer_name(scheduler: Any, module_name: str, builder: str) -> str:
    if isinstance(scheduler, str):
        return f"{module_name}:{scheduler}"
    name = getattr(scheduler, "__name__", None)
    module = getattr(scheduler, "__module__", "")
    inside = module == module_name or module.startswith(f"{module_name}.")
    if not isinstance(name, str) or not inside:
        raise TypeError(
            f"{builder} takes a scheduler of {module_name} (the class or its name), got "
            f"{describe(scheduler)}; for your own code use FunctionSchedule"
        )
    return f"{module_name}:{name}"


def from_torch(scheduler: type | str, /, *, base: float = 1.0, read: str = "lr", **kwargs: Any) -> PeerSchedule:
    """A ``torch.optim.lr_scheduler`` scheduler, run by torch, as a schedule for any key.

    ``scheduler`` is the class (or its name); ``kwargs`` are its arguments without
    the optimizer. ``OneCycleLR``'s ``total_steps`` and ``CosineAnnealingLR``'s
    ``T_max`` default to the run's length. ``SequentialLR`` and ``ChainedScheduler``
    take ``schedulers=[from_torch(...), ...]``. ``read="momentum"`` gives the
    momentum ``OneCycleLR`` / ``CyclicLR`` cycle.

    >>> import torch, paramsched as ps
    >>> s = ps.from_torch(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, total_steps=1000)
    >>> round(s(0, 1000), 12), round(s(299, 1000), 12)       # from max_lr / 25 up to max_lr
    (0.0004, 0.01)
    >>> warm = ps.from_torch("LinearLR", start_factor=0.5, total_iters=2)
    >>> seq = ps.from_torch("SequentialLR", schedulers=[warm, ps.from_torch("ExponentialLR", gamma=0.5)], milestones=[2])
    >>> [seq(k, 5) for k in range(5)]
    [0.5, 0.75, 1.0, 0.5, 0.25]
    """
    return PeerSchedule(_peer_name(scheduler, TORCH, "from_torch"), kwargs, base, read)


def from_hf(name: Any, /, *, base: float = 1.0, **kwargs: Any) -> PeerSchedule:
    """A Hugging Face ``transformers`` schedule, run by transformers, as a schedule for any key.

    ``name`` is a ``lr_scheduler_type`` (``"cosine"``, ``"warmup_stable_decay"``...),
    or the ``get_*`` function (or its name); ``kwargs`` are the function's
    arguments without the optimizer. ``num_training_steps`` defaults to the
    run's length; the warmup may be ``warmup_ratio=`` (rounded up, as the
    Trainer does).

    >>> import paramsched as ps
    >>> s = ps.from_hf("cosine", num_warmup_steps=100)
    >>> s(50, 1000), s(100, 1000)
    (0.5, 1.0)
    >>> ps.from_hf("linear", warmup_ratio=0.1)(5, 101)      # ceil(10.1) = 11 warmup steps
    0.45454545454545453
    """
    hf = _library(HF)
    if callable(name) and not isinstance(name, str):
        return PeerSchedule(_peer_name(name, HF, "from_hf"), kwargs, base)
    if isinstance(name, str) and name.startswith("get_"):
        return PeerSchedule(f"{HF}:{name}", kwargs, base)
    try:
        kind = hf.SchedulerType(name)
    except ValueError:
        known = ", ".join(repr(t.value) for t in hf.SchedulerType)
        raise ValueError(f"name must be one of {known} or a get_* function name, got name={describe(name)}") from None
    return PeerSchedule(f"{HF}:{hf.TYPE_TO_SCHEDULER_FUNCTION[kind].__name__}", kwargs, base)


def from_timm(scheduler: type | str, /, *, base: float = 1.0, **kwargs: Any) -> PeerSchedule:
    """A ``timm.scheduler`` scheduler, run by timm, as a schedule for any key.

    ``scheduler`` is the class (or its name: ``"CosineLRScheduler"``...); ``kwargs``
    are its arguments without the optimizer. The schedule's step is timm's ``t``
    (``step(t)`` with ``t_in_epochs=True``, ``step_update(t)`` otherwise: the same
    values). ``t_initial`` defaults to the run's length (less ``warmup_t`` with
    ``warmup_prefix=True``). Needs timm importable (a :class:`PeerNotInstalledError` says so).
    """
    _library(TIMM)
    return PeerSchedule(_peer_name(scheduler, TIMM, "from_timm"), kwargs, base)

