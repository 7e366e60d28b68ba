"""The `Schedule` base class and the spec registry every schedule type joins.

A schedule is a frozen dataclass with a pure ``__call__(step, total_steps)``.
Subclasses register themselves by class name, so ``to_spec()`` gives plain
JSON and ``schedule_from_spec()`` rebuilds the same object from it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from paramsched.checks import check_positive_int, describe

_SCHEDULE_TYPES: dict[str, type[Schedule]] = {}


class DurationWarning(UserWarning):
    """A float duration of exactly ``1.0`` given as a length: the whole run, or meant as 1 step?

    A float duration is a fraction of the run, so ``steps=total / 10`` with
    ``total=10`` is ``1.0``, the whole run. Silence it for a deliberate whole-run
    length with ``warnings.filterwarnings("ignore", category=ps.schedules.DurationWarning)``
    (or write it as an int step count). ``schedule_from_spec`` never warns: a spec
    keeps each duration's type.
    """


class Schedule:
    """Base class of every schedule: a pure function of ``(step, total_steps)``.

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` classes that
    implement ``__call__``; they validate their fields in ``__post_init__``.
    Arithmetic builds new schedules and never mutates its operands:

    >>> import paramsched as ps
    >>> s = ps.Linear(1.0, 0.0) * 0.5 + 0.1
    >>> s(0, 10), s(5, 10)
    (0.6, 0.35)
    """

    # Set to False on abstract intermediate classes so they are not registered.
    _register: ClassVar[bool] = True
    # Fields added to a type after its spec format was published: ``to_spec()`` and
    # the repr leave them out while they hold their default, so the specs (and the
    # checkpoint fingerprints) of schedules that don't use them stay what they were.
    _added_fields: ClassVar[tuple[str, ...]] = ()
    # The run-length constants (durations resolved to steps) of the last run length
    # asked for, as ``(total_steps, *constants)``: computed once per run length by
    # ``_remember``, so ``__call__`` never resolves a duration. One tuple, swapped
    # whole (safe across threads); not a field: never compared, shown, saved or pickled.
    _memo: ClassVar[tuple[Any, ...]] = (None,)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_register", True):
            _SCHEDULE_TYPES[cls.__name__] = cls

    def __call__(self, step: int, total_steps: int) -> float:
        """The value in effect during update ``step`` of a ``total_steps``-update run."""
        raise NotImplementedError

    def _resolve(self, total_steps: int) -> tuple[Any, ...]:
        """The constants of a ``total_steps``-step run that ``__call__`` needs (steps of
        its durations...); types with run-length constants override it."""
        return ()

    def _remember(self, total_steps: int) -> tuple[Any, ...]:
        """``(total_steps, *self._resolve(total_steps))``, kept as ``_memo``. The hot path:

        ``m = self._memo`` then ``if m[0] != total_steps: m = self._remember(total_steps)``.
        """
        memo = (total_steps, *self._resolve(total_steps))
        object.__setattr__(self, "_memo", memo)
        return memo

    def __getstate__(self) -> dict[str, Any]:
        # The configuration only: the memo is derived, and recomputed on first use.
        state = dict(self.__dict__)
        state.pop("_memo", None)
        return state

    def validate(self, total_steps: int) -> None:
        """Check that this schedule fits a ``total_steps``-update run; raise ``ValueError`` if not.

        ``__post_init__`` checks everything that does not depend on the run length;
        this checks the rest (a warmup given in steps longer than the run, say). The
        scheduler calls it once at construction; compositions call it on their
        children with the run length each child sees. Overrides call
        ``super().validate(total_steps)`` first. The base only checks ``total_steps``.
        """
        check_positive_int("total_steps", total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        """Steps where the shape changes (phase joins), for validation and plotting.

        Sorted, unique, each in ``[1, total_steps - 1]``: the first step of a new
        phase (``OneCycle`` also lists the step before its turn). The default is no
        interior boundary; presets with phases and compositions override it.
        (Not named ``boundaries``: that is a field of ``Sequence``, whose
        constructor takes ``boundaries=[...]``.)
        """
        return ()

    def extended(self, old_total: int, new_total: int) -> Schedule | None:
        """This schedule moved from an ``old_total``-step run to a ``new_total``-step one,
        keeping its warmup and moving its decay to the new end, or ``None`` when the
        schedule has no such notion (used by ``total_steps_policy="extend"``).
        """
        return None

    # -- spec round-trip ---------------------------------------------------

    def to_spec(self, *, compact: bool = False) -> dict[str, Any]:
        """Plain-JSON description of this schedule; ``schedule_from_spec`` inverts it.

        ``compact=True`` lets a schedule holding bulk data (a replayed series of
        100k values) put a digest in its place: enough to tell schedules apart in
        run metadata and checkpoint fingerprints, but not to rebuild them.

        >>> import paramsched as ps
        >>> ps.Cosine(1.0, 0.0).to_spec()
        {'type': 'Cosine', 'start': 1.0, 'end': 0.0}
        """
        spec: dict[str, Any] = {"type": type(self).__name__}
        for name, value in self._config():
            spec[name] = _to_json(value, compact)
        return spec

    def _config(self) -> list[tuple[str, Any]]:
        """The configuration fields and their values, as ``to_spec()`` and the repr show them."""
        config = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            if not field.init:  # init=False fields are derived (caches), not configuration
                continue
            value = getattr(self, field.name)
            if field.name in self._added_fields and value == field.default:
                continue
            config.append((field.name, value))
        return config

    def _repr(self) -> str:
        """The dataclass repr without the added fields at their default (for ``repr=False`` types)."""
        shown = ", ".join(f"{name}={value!r}" for name, value in self._config())
        return f"{type(self).__name__}({shown})"

    @classmethod
    def _build_from_spec(
        cls, fields: Mapping[str, Any], trust_functions: bool | Collection[str]
    ) -> Schedule:
        """Build an instance from a spec's fields (``type`` removed). Types whose fields
        hold more than schedules and plain values override this."""
        return cls(**{name: _from_json(value, trust_functions) for name, value in fields.items()})

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, trust_functions: bool | Collection[str] = True) -> Schedule:
        """Rebuild a schedule from ``to_spec()`` output (any registered type; see
        :func:`schedule_from_spec` for ``trust_functions``)."""
        return schedule_from_spec(spec, trust_functions=trust_functions)

    # -- composition ---------------------------------------------------------

    def __mul__(self, other: Schedule | float) -> Schedule:
        from paramsched.schedules.composition import Product, Scale

        if isinstance(other, Schedule):
            return Product(self, other)
        return Scale(self, _operand("*", other))

    __rmul__ = __mul__

    def __add__(self, other: Schedule | float) -> Schedule:
        from paramsched.schedules.composition import Shift, Sum

        if isinstance(other, Schedule):
            return Sum(self, other)
        return Shift(self, _operand("+", other))

    __radd__ = __add__

    def __sub__(self, other: Schedule | float) -> Schedule:
        if isinstance(other, Schedule):
            return self + other * -1.0
        return self + (-_operand("-", other))

    def __rsub__(self, other: float) -> Schedule:
        return self * -1.0 + _operand("-", other)

    def __truediv__(self, other: float) -> Schedule:
        divisor = _operand("/", other)
        if divisor == 0.0:
            raise ValueError("cannot divide a schedule by zero, got divisor=0")
        return self * (1.0 / divisor)


def _operand(op: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"a schedule can be combined with '{op}' only with a Schedule or a real number, "
            f"got {describe(value)}"
        )
    if not math.isfinite(value):
        raise ValueError(f"the operand of '{op}' must be finite, got {describe(value)}")
    return float(value)


def _to_json(value: Any, compact: bool = False) -> Any:
    if isinstance(value, Schedule):
        return value.to_spec(compact=compact)
    if isinstance(value, (tuple, list)):
        return [_to_json(v, compact) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v, compact) for k, v in value.items()}
    if callable(value):
        # FunctionSchedule keeps a callable; it stores it as an import path.
        return f"{value.__module__}:{value.__qualname__}"
    return value


class UntrustedFunctionError(ValueError):
    """A spec names a function to import, and the caller did not say to trust it.

    Reading a log never imports or calls what the log names: a ``FunctionSchedule``
    spec read from a run is rebuilt only with ``trust_functions=True`` (or an
    allow-list of ``"module:qualname"`` names that includes it).
    """

    def __init__(self, path: Any) -> None:
        super().__init__(
            f"the spec names the function {describe(path)}; rebuilding it would import and call "
            "code named by the spec, so it is not rebuilt unless trusted: pass "
            "trust_functions=True (or a list of allowed 'module:qualname' names)"
        )
        self.path = path


def _check_trust(path: Any, trust_functions: bool | Collection[str]) -> None:
    if trust_functions is True:
        return
    if trust_functions is False or not isinstance(path, str) or path not in trust_functions:
        raise UntrustedFunctionError(path)


def _from_json(value: Any, trust_functions: bool | Collection[str]) -> Any:
    if isinstance(value, Mapping) and "type" in value:
        return schedule_from_spec(value, trust_functions=trust_functions)
    if isinstance(value, list):
        return tuple(_from_json(v, trust_functions) for v in value)
    return value


def schedule_from_spec(
    spec: Mapping[str, Any], *, trust_functions: bool | Collection[str] = True
) -> Schedule:
    """Rebuild a schedule from the plain-JSON dict that ``Schedule.to_spec()`` gives.

    ``trust_functions`` says whether a ``FunctionSchedule`` in the spec may be
    imported: ``True`` for a spec you wrote (the default), ``False`` for a spec
    read from a log (``paramsched.replay`` passes ``False`` unless told
    otherwise), or a collection of allowed ``"module:qualname"`` names.
    An untrusted function is an :class:`UntrustedFunctionError` (a ``ValueError``),
    raised before anything is imported.

    >>> import paramsched as ps
    >>> s = ps.WarmupStableDecay(3e-4)
    >>> ps.schedule_from_spec(s.to_spec()) == s
    True
    >>> ps.schedule_from_spec({"type": "FunctionSchedule", "fn": "os:chmod"}, trust_functions=False)
    Traceback (most recent call last):
    ...
    paramsched.schedules._base.UntrustedFunctionError: the spec names the function 'os:chmod'; ...
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a dict with a 'type' entry, got spec={describe(spec)}")
    if not (trust_functions is True or trust_functions is False) and (
        isinstance(trust_functions, str) or not isinstance(trust_functions, Collection)
    ):
        raise TypeError(
            "trust_functions must be True, False or a collection of 'module:qualname' names, "
            f"got trust_functions={describe(trust_functions)}"
        )
    kind = spec.get("type")
    if spec.get("compact"):
        raise ValueError(
            f"this {kind} spec is a compact digest (as stored in run metadata), not the "
            "schedule itself; rebuild it from the run's log: paramsched.replay.load(...).schedules()"
        )
    if not isinstance(kind, str) or kind not in _SCHEDULE_TYPES:  # a list is not hashable
        known = ", ".join(sorted(_SCHEDULE_TYPES))
        raise ValueError(f"spec type must be one of {known}, got type={describe(kind)}")
    if kind == "FunctionSchedule":
        _check_trust(spec.get("fn"), trust_functions)
    cls = _SCHEDULE_TYPES[kind]
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(spec) - names - {"type"})
    if unknown:
        raise ValueError(
            f"spec for {kind} has unknown fields {unknown}; expected fields {sorted(names)}"
        )
    fields = {name: value for name, value in spec.items() if name != "type"}
    with warnings.catch_warnings():
        # A spec keeps each duration's type: 1.0 there was written as a fraction.
        warnings.simplefilter("ignore", DurationWarning)
        return cls._build_from_spec(fields, trust_functions)


def schedule_types() -> dict[str, type[Schedule]]:
    """All registered schedule types by name (a copy)."""
    return dict(_SCHEDULE_TYPES)
