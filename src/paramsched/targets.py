"""What a schedule writes to: parsing ``"lr"`` / ``"betas.0"``, selecting groups, value ranges.

>>> parse_target("betas.0")
Target(key='betas.0', field='betas', index=0)
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from paramsched.checks import describe
from paramsched.naming import check_key_name, group_label

# field -> (low, high, high_inclusive, wording) for the keys torch optimizers know.
_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "lr": (0.0, math.inf, True, ">= 0"),
    "weight_decay": (0.0, math.inf, True, ">= 0"),
    "eps": (0.0, math.inf, True, ">= 0"),
    "momentum": (0.0, 1.0, False, "in [0, 1)"),
    "dampening": (0.0, 1.0, False, "in [0, 1)"),
    "betas": (0.0, 1.0, False, "in [0, 1)"),
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A param-group entry a schedule writes: ``field`` and, for a tuple, its ``index``."""

    key: str
    field: str
    index: int | None = None

    def check_value(self, value: float) -> str | None:
        """Why ``value`` is not allowed for this target, or ``None`` when it is."""
        if not math.isfinite(value):
            return f"{self.key} must be finite"
        bounds = _RANGES.get(self.field)
        if bounds is None:
            return None
        low, high, high_inclusive, wording = bounds
        too_high = value > high if high_inclusive else value >= high
        if value < low or too_high:
            return f"{self.key} must be {wording}"
        return None


def parse_target(key: Any) -> Target:
    """Parse a scheduled key: ``"lr"``, ``"weight_decay"``, or ``"betas.1"`` (tuple element)."""
    if not isinstance(key, str):
        raise TypeError(f"a scheduled key must be a string such as 'lr' or 'betas.0', got {describe(key)}")
    check_key_name(key)
    field, dot, rest = key.rpartition(".")
    if dot and rest and rest.isascii() and rest.isdigit():
        if rest != str(int(rest)):  # "betas.01" would be a second series for betas.1
            raise ValueError(
                f"a tuple element is written '{field}.{int(rest)}', got key={key!r}"
            )
        return Target(key=key, field=field, index=int(rest))
    return Target(key=key, field=key)


def check_target_in_group(target: Target, group: Mapping[str, Any], index: int, label: str) -> None:
    """Raise unless ``target`` names an existing entry of param group ``index``."""
    if target.field not in group:
        keys = ", ".join(sorted(k for k in group if k != "params"))
        raise ValueError(
            f"param group {index} ({label!r}) has no key {target.field!r} "
            f"(from schedules key {target.key!r}); keys that exist: {keys}"
        )
    value = group[target.field]
    if target.index is None:
        if isinstance(value, (tuple, list)):
            raise ValueError(
                f"param group {index} ({label!r}) holds a {len(value)}-tuple under {target.field!r}; "
                f"schedule one element with '{target.field}.<i>', e.g. '{target.field}.0'"
            )
        _check_numeric(target.key, value, index, label)
        return
    if not isinstance(value, (tuple, list)):
        raise ValueError(
            f"schedules key {target.key!r} indexes {target.field!r}, but param group {index} "
            f"({label!r}) holds a {type(value).__name__} there, not a tuple"
        )
    if target.index >= len(value):
        raise ValueError(
            f"schedules key {target.key!r} indexes element {target.index} of {target.field!r}, "
            f"but param group {index} ({label!r}) holds a {len(value)}-tuple there"
        )
    _check_numeric(target.key, value[target.index], index, label)


def _check_numeric(key: str, value: Any, index: int, label: str) -> None:
    """Only real numbers (or 0-d floating tensors) are hyperparameters: scheduling a flag such
    as ``maximize`` or ``foreach`` (or a ``name``) would change what the optimizer does."""
    torch = sys.modules.get("torch")  # a tensor exists only once torch is loaded: reading runs does not need it
    if torch is not None and isinstance(value, torch.Tensor):
        if value.ndim == 0 and value.is_floating_point():
            return
        what = f"a {tuple(value.shape)} {value.dtype} tensor"
    elif isinstance(value, bool):
        what = f"a bool ({value!r}: a switch, not a number)"
    elif isinstance(value, (int, float)):
        return
    else:
        what = f"{describe(value)} ({type(value).__name__})"
    raise ValueError(
        f"param group {index} ({label!r}) holds {what} under {key!r}; only numeric entries "
        "(int, float or a 0-d floating tensor) can be scheduled"
    )


def target_for_group(key: str, group: Mapping[str, Any]) -> Target:
    """``parse_target(key)``, except that a custom key spelt like ``"name.0"`` that exists
    in ``group`` as it is stays a plain key."""
    target = parse_target(key)
    if target.index is not None and key in group:
        return Target(key=key, field=key)
    return target


def read_target(target: Target, group: Mapping[str, Any]) -> Any:
    """The current value of ``target`` in ``group`` (a float or a tensor)."""
    value = group[target.field]
    return value if target.index is None else value[target.index]


def group_labels(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """Labels of every group (``name`` entry or ``g<index>``); duplicates are an error."""
    labels = [group_label(group, i) for i, group in enumerate(groups)]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise ValueError(
                f"param groups {seen[label]} and {i} both get the series label {label!r} "
                "(from their 'name' entries, with characters outside letters, digits, "
                "'_ - . /' and spaces replaced by '_'); give them distinct names"
            )
        seen[label] = i
    return labels


def resolve_group(
    selector: Any, groups: Sequence[Mapping[str, Any]], labels: Sequence[str], argname: str
) -> int:
    """The index of the group named by ``selector``: an index ``0..n-1``, a ``name`` or a label."""
    count = len(groups)
    if isinstance(selector, bool):
        raise TypeError(f"{argname} must select a group by index or name, got {describe(selector)}")
    if isinstance(selector, int):
        if selector < 0 or selector >= count:
            raise ValueError(
                f"{argname} selects group index {selector}, but the optimizer has {count} "
                f"param group(s): indices 0..{count - 1} (negative indices are not accepted)"
            )
        return selector
    if isinstance(selector, str):
        for i, group in enumerate(groups):
            if group.get("name") == selector or labels[i] == selector:
                return i
        known = ", ".join(repr(label) for label in labels)
        raise ValueError(f"{argname} names group {selector!r}, but the groups are: {known}")
    raise TypeError(f"{argname} must select a group by index (int) or name (str), got {describe(selector)}")
