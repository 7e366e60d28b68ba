"""The `Schedule` base class and the spec registry every schedule type joins.

A schedule is a frozen dataclass with a pure ``__call__(step, total_steps)``.
Subclasses register themselves by class name, so ``to_spec()`` gives plain
JSON and ``schedule_from_spec()`` rebuilds the same object from it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from paramsched._validate import check_positive_int, describe

_SCHEDULE_TYPES: dict[str, type[Schedule]] = {}


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_register", True):
            _SCHEDULE_TYPES[cls.__name__] = cls

    def __call__(self, step: int, total_steps: int) -> float:
        """The value in effect during update ``step`` of a ``total_steps``-update run."""
        raise NotImplementedError

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
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            spec[field.name] = _to_json(getattr(self, field.name), compact)
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Schedule:
        """Rebuild a schedule from ``to_spec()`` output (any registered type)."""
        return schedule_from_spec(spec)

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


def _from_json(value: Any) -> Any:
    if isinstance(value, Mapping) and "type" in value:
        return schedule_from_spec(value)
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def schedule_from_spec(spec: Mapping[str, Any]) -> Schedule:
    """Rebuild a schedule from the plain-JSON dict that ``Schedule.to_spec()`` gives.

    >>> import paramsched as ps
    >>> s = ps.WarmupStableDecay(3e-4)
    >>> ps.schedule_from_spec(s.to_spec()) == s
    True
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a dict with a 'type' entry, got spec={describe(spec)}")
    kind = spec.get("type")
    if kind not in _SCHEDULE_TYPES and kind == "ReplaySchedule":
        import paramsched.replay  # noqa: F401  (registers ReplaySchedule; loaded lazily)
    if spec.get("compact"):
        raise ValueError(
            f"this {kind} spec is a compact digest (as stored in run metadata), not the "
            "schedule itself; rebuild it from the run's log: paramsched.replay.load(...).schedules()"
        )
    if kind not in _SCHEDULE_TYPES:
        known = ", ".join(sorted(_SCHEDULE_TYPES))
        raise ValueError(f"spec type must be one of {known}, got type={describe(kind)}")
    cls = _SCHEDULE_TYPES[kind]
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(spec) - names - {"type"})
    if unknown:
        raise ValueError(
            f"spec for {kind} has unknown fields {unknown}; expected fields {sorted(names)}"
        )
    kwargs = {name: _from_json(value) for name, value in spec.items() if name != "type"}
    return cls._from_fields(kwargs) if hasattr(cls, "_from_fields") else cls(**kwargs)


def schedule_types() -> dict[str, type[Schedule]]:
    """All registered schedule types by name (a copy)."""
    return dict(_SCHEDULE_TYPES)
