"""Series names: ``hp/<key>/<group>``, using only characters every tracker accepts.

MLflow accepts letters, digits, ``_ - . /`` and spaces in metric names; any
other character in a group label becomes ``_``. Keys may not contain ``/``
so that a name splits back into (key, group) unambiguously.

>>> series_name("betas.0", "decoder")
'hp/betas.0/decoder'
>>> parse_series_name("hp/lr/blocks/0")
('lr', 'blocks/0')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PREFIX = "hp/"
STEP_SERIES = "hp/step"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")
_KEY_OK = re.compile(r"^[A-Za-z0-9_\-. ]+$")


def sanitize_label(text: str) -> str:
    """Replace every character a tracker would reject with ``_``."""
    return _UNSAFE.sub("_", text)


def group_label(group: Mapping[str, Any], index: int) -> str:
    """The label of a param group: its ``name`` entry (sanitized) or ``g<index>``."""
    name = group.get("name")
    if name is None:
        return f"g{index}"
    label = sanitize_label(str(name))
    if not label:
        raise ValueError(f"param group {index} has an empty name, got name={name!r}")
    return label


def check_key_name(key: str) -> str:
    """Raise unless ``key`` can appear in a series name as it is."""
    if not isinstance(key, str) or not _KEY_OK.match(key):
        raise ValueError(
            "a scheduled key may contain only letters, digits, '_', '-', '.' and spaces "
            f"(it becomes part of the series name hp/<key>/<group>), got key={key!r}"
        )
    return key


def series_name(key: str, label: str) -> str:
    """``hp/<key>/<label>``."""
    return f"{PREFIX}{key}/{label}"


def parse_series_name(name: str) -> tuple[str, str]:
    """Split ``hp/<key>/<group>`` back into ``(key, group)``."""
    if not name.startswith(PREFIX) or name.count("/") < 2:
        raise ValueError(f"series name must look like 'hp/<key>/<group>', got {name!r}")
    key, _, label = name[len(PREFIX):].partition("/")
    if not key or not label:
        raise ValueError(f"series name must look like 'hp/<key>/<group>', got {name!r}")
    return key, label


def check_series_name(name: Any, *, source: str = "") -> str:
    """Raise unless ``name`` is a valid ``hp/<key>/<group>`` series name."""
    prefix = f"{source}: " if source else ""
    if not isinstance(name, str):
        raise TypeError(f"{prefix}series names must be strings 'hp/<key>/<group>', got {name!r}")
    try:
        key, label = parse_series_name(name)
        check_key_name(key)
    except ValueError as exc:
        raise ValueError(f"{prefix}{exc}") from None
    if sanitize_label(label) != label:
        raise ValueError(
            f"{prefix}the group label in series {name!r} may contain only letters, digits, "
            f"'_', '-', '.', '/' and spaces, got group={label!r}"
        )
    return name


def in_series_order(values: Mapping[str, float], series: tuple[str, ...]) -> dict[str, float]:
    """``values`` as a dict in the order of ``series`` (a recorder's columns), or a ValueError.

    A recorder is given exactly the series of ``metadata["series"]`` at every step;
    this is its check, with the names that are missing or unexpected.

    >>> in_series_order({"hp/lr/g1": 2.0, "hp/lr/g0": 1.0}, ("hp/lr/g0", "hp/lr/g1"))
    {'hp/lr/g0': 1.0, 'hp/lr/g1': 2.0}
    """
    if set(values) != set(series):
        missing = [s for s in series if s not in values]
        extra = [s for s in values if s not in series]
        raise ValueError(
            f"values must hold exactly the series of metadata['series']; missing {missing}, unexpected {extra}"
        )
    return {s: values[s] for s in series}
