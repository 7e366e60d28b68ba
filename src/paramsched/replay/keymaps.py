"""Key maps: read logs that paramsched did not write (Lightning, Hugging Face, your own).

A key map turns a foreign log's column names into series ``hp/<key>/<group>``
and names the step column. Sources take ``keymap=``:

- ``"lightning"``: the names of Lightning's ``LearningRateMonitor``
  (checked against Lightning 2.6's ``lr_monitor.py``)::

      lr-AdamW                    -> lr, g0           (one param group)
      lr-AdamW/pg1, lr-AdamW/pg2  -> lr, g0 / g1      (pgN is group N-1)
      lr-AdamW/head               -> lr, head         (a group with "name": "head")
      lr-SGD-momentum             -> momentum, g0     (log_momentum=True)
      lr-AdamW/pg2-momentum       -> betas.0, g1      (Adam-type: Lightning logs betas[0])
      lr-AdamW-weight_decay       -> weight_decay, g0 (log_weight_decay=True)

  Step column ``step`` (what ``CSVLogger`` writes). A log holding several
  optimizers (``lr-Adam`` and ``lr-SGD``, or ``lr-Adam-1`` for a second Adam)
  is an error: pick one with ``lightning(name="lr-Adam-1")``; ``name`` is also
  how to read a scheduler given a custom ``"name"`` in Lightning. Momentum
  columns become ``betas.0`` for Adam, AdamW, Adamax, NAdam, RAdam and
  SparseAdam and ``momentum`` for SGD and RMSprop; for any other optimizer
  (or a custom name) pass ``momentum_key=``.
- ``"hf"``: Hugging Face Trainer's ``learning_rate`` (``trainer_state.json``
  ``log_history``) or ``train/learning_rate`` (its W&B / MLflow names) ->
  ``lr, g0``; step column ``step``, ``train/global_step`` or ``global_step``.
- a dict ``{column: (key, group)}`` (or ``{column: "hp/<key>/<group>"}``):
  exactly those columns, every one of which must be in the log.

Other columns of a foreign log (loss, epoch, ...) are not read. Empty cells
are "not logged at this step"; the ``gaps=`` policy of the replay decides
what happens there.

>>> LightningKeyMap().map_columns(["lr-AdamW/pg1", "lr-AdamW/pg2", "train_loss"], source="log")
{'lr-AdamW/pg1': 'hp/lr/g0', 'lr-AdamW/pg2': 'hp/lr/g1'}
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from typing import Any

from paramsched.checks import describe
from paramsched.naming import check_key_name, check_series_name, sanitize_label, series_name

__all__ = ["KEYMAPS", "DictKeyMap", "HFKeyMap", "KeyMap", "LightningKeyMap", "hf", "lightning", "resolve_keymap"]

# torch optimizers whose LearningRateMonitor "momentum" is betas[0] / momentum.
_BETAS_OPTIMIZERS = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam"})
_MOMENTUM_OPTIMIZERS = frozenset({"SGD", "RMSprop"})
_SUFFIXES = {"-momentum": "momentum", "-weight_decay": "weight_decay"}


class KeyMap(abc.ABC):
    """Maps a foreign log's columns to series names; ``step_columns`` are tried in order."""

    name: str = "custom"
    step_columns: tuple[str, ...] = ("step",)

    @abc.abstractmethod
    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        """``{column: series_name}`` for the columns this map reads (in column order)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DictKeyMap(KeyMap):
    """``{column: (key, group)}`` or ``{column: "hp/<key>/<group>"}``; every column must exist.

    >>> DictKeyMap({"my_lr": ("lr", "g0")}).map_columns(["step", "my_lr"], source="log")
    {'my_lr': 'hp/lr/g0'}
    """

    name = "dict"

    def __init__(self, mapping: Mapping[str, Any], *, step_column: str = "step") -> None:
        if not isinstance(mapping, Mapping) or not mapping:
            raise TypeError(f"keymap must be a non-empty dict {{column: (key, group)}}, got keymap={describe(mapping)}")
        self.mapping: dict[str, str] = {}
        for column, target in mapping.items():
            self.mapping[str(column)] = _target_series(column, target)
        if not isinstance(step_column, str) or not step_column:
            raise TypeError(f"step_column must be a column name, got step_column={describe(step_column)}")
        self.step_columns = (step_column,)

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        missing = [c for c in self.mapping if c not in columns]
        if missing:
            raise ValueError(f"{source}: keymap column(s) {missing} not in the log; columns: {list(columns)}")
        return {c: self.mapping[c] for c in columns if c in self.mapping}

    def __repr__(self) -> str:
        return f"DictKeyMap({self.mapping!r})"


class HFKeyMap(KeyMap):
    """Hugging Face Trainer logs: ``learning_rate`` / ``train/learning_rate`` -> ``hp/lr/g0``."""

    name = "hf"
    step_columns = ("step", "train/global_step", "global_step")
    _COLUMNS = ("learning_rate", "train/learning_rate")

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        found = {c: series_name("lr", "g0") for c in columns if c in self._COLUMNS}
        if not found:
            raise ValueError(
                f"{source}: keymap 'hf' found none of the columns {list(self._COLUMNS)}; "
                f"columns: {list(columns)}"
            )
        return found


class LightningKeyMap(KeyMap):
    """Lightning ``LearningRateMonitor`` names (see the module docstring).

    Args:
        name: the logging name to read (``"lr-AdamW"``, ``"lr-Adam-1"`` or a
            scheduler's custom ``"name"``); ``None`` reads the one optimizer
            whose ``lr-<Optimizer>`` columns are in the log.
        momentum_key: the key for ``-momentum`` columns (``"momentum"`` or
            ``"betas.0"``); ``None`` infers it from the optimizer class.
    """

    name = "lightning"
    step_columns = ("step",)
    _AUTO = re.compile(r"^(lr-[A-Za-z_][A-Za-z0-9_]*(?:-\d+)?)(?=$|/|-momentum$|-weight_decay$)")

    def __init__(self, name: str | None = None, *, momentum_key: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a LearningRateMonitor logging name or None, got name={describe(name)}")
        if momentum_key is not None:
            check_key_name(momentum_key)
        self.logging_name = name
        self.momentum_key = momentum_key

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        prefix = self.logging_name
        if prefix is None:
            prefixes = list(dict.fromkeys(m.group(1) for c in columns if (m := self._AUTO.match(c))))
            if not prefixes:
                raise ValueError(
                    f"{source}: keymap 'lightning' found no LearningRateMonitor column "
                    f"('lr-<Optimizer>...'); columns: {list(columns)}"
                )
            if len(prefixes) > 1:
                raise ValueError(
                    f"{source}: the log holds several optimizers {prefixes}; a ParamScheduler drives "
                    "one: pick it with keymap=paramsched.replay.keymaps.lightning(name=...)"
                )
            prefix = prefixes[0]
        found: dict[str, str] = {}
        for column in columns:
            parsed = self._parse(column, prefix)
            if parsed is None:
                continue
            key_kind, group = parsed
            key = self._key(key_kind, prefix, column, source)
            found[column] = series_name(key, group)
        if not found:
            raise ValueError(
                f"{source}: keymap 'lightning' found no column named {prefix!r} or "
                f"'{prefix}/<group>'; columns: {list(columns)}"
            )
        return found

    @staticmethod
    def _parse(column: str, prefix: str) -> tuple[str, str] | None:
        if not column.startswith(prefix):
            return None
        rest = column[len(prefix):]
        kind = "lr"
        for suffix, suffix_kind in _SUFFIXES.items():
            if rest.endswith(suffix):
                rest, kind = rest[: -len(suffix)], suffix_kind
                break
        if rest == "":
            return kind, "g0"
        if not rest.startswith("/") or len(rest) == 1:
            return None
        group = rest[1:]
        match = re.fullmatch(r"pg([1-9][0-9]*)", group)
        return kind, (f"g{int(match.group(1)) - 1}" if match else sanitize_label(group))

    def _key(self, kind: str, prefix: str, column: str, source: str) -> str:
        if kind != "momentum":
            return kind
        if self.momentum_key is not None:
            return self.momentum_key
        optimizer = re.sub(r"^lr-|-\d+$", "", prefix)
        if optimizer in _BETAS_OPTIMIZERS:
            return "betas.0"
        if optimizer in _MOMENTUM_OPTIMIZERS:
            return "momentum"
        named = f"{self.logging_name!r}, " if self.logging_name is not None else ""
        raise ValueError(
            f"{source}: cannot tell which key column {column!r} holds (LearningRateMonitor logs "
            f"betas[0] as momentum for Adam-type optimizers); pass "
            f"keymap=paramsched.replay.keymaps.lightning({named}momentum_key='momentum' or 'betas.0')"
        )

    def __repr__(self) -> str:
        return f"LightningKeyMap(name={self.logging_name!r}, momentum_key={self.momentum_key!r})"


def lightning(name: str | None = None, *, momentum_key: str | None = None) -> LightningKeyMap:
    """The Lightning key map for one logging name (see :class:`LightningKeyMap`)."""
    return LightningKeyMap(name, momentum_key=momentum_key)


def hf() -> HFKeyMap:
    """The Hugging Face Trainer key map."""
    return HFKeyMap()


KEYMAPS: dict[str, type[KeyMap]] = {"lightning": LightningKeyMap, "hf": HFKeyMap}
"""Preset key maps by name (``keymap="lightning"``); add your own class here to name it."""


def resolve_keymap(keymap: Any) -> KeyMap | None:
    """``None``, a preset name, a dict or a :class:`KeyMap` -> a KeyMap (or None)."""
    if keymap is None or isinstance(keymap, KeyMap):
        return keymap
    if isinstance(keymap, str):
        if keymap not in KEYMAPS:
            known = ", ".join(repr(k) for k in sorted(KEYMAPS))
            raise ValueError(f"keymap must be one of {known}, a dict or a KeyMap, got keymap={keymap!r}")
        return KEYMAPS[keymap]()
    if isinstance(keymap, Mapping):
        return DictKeyMap(keymap)
    raise TypeError(
        f"keymap must be a preset name ({', '.join(sorted(KEYMAPS))}), a dict {{column: (key, group)}} "
        f"or a KeyMap, got keymap={describe(keymap)}"
    )


def _target_series(column: Any, target: Any) -> str:
    if isinstance(target, str):
        return check_series_name(target)
    if isinstance(target, (tuple, list)) and len(target) == 2:
        key, group = target
        if isinstance(group, int) and not isinstance(group, bool):
            group = f"g{group}"
        if not isinstance(key, str) or not isinstance(group, str):
            raise TypeError(f"keymap[{column!r}] must be (key, group) strings, got {target!r}")
        check_key_name(key)
        return check_series_name(series_name(key, group))
    raise TypeError(
        f"keymap[{column!r}] must be a (key, group) pair or a series name 'hp/<key>/<group>', got {target!r}"
    )
