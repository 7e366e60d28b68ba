"""Key maps: read logs that paramsched did not write (Hugging Face, Lightning, timm, your own).

A key map says three things about a foreign log: which columns hold which
series ``hp/<key>/<group>``, which column holds the step, and how a logged
step relates to paramsched's step (step ``k`` is the k-th optimizer update,
from 0). Every other numeric column (loss, eval_loss, epoch, ...) becomes
``traj.metrics``, on the same step axis. Sources take ``keymap=``:

- ``"hf"``: Hugging Face ``Trainer`` logs. ``learning_rate``
  (``trainer_state.json`` ``log_history``, MLflow) or ``train/learning_rate``
  (W&B, TensorBoard) -> ``lr, g0``; step column ``step``,
  ``train/global_step`` or ``global_step``. **The Trainer reads the lr of
  update k before it steps its scheduler and logs it at global_step = k + 1**,
  so logged step ``s`` is update ``s - 1`` (``step_offset=1``); a row logged
  at step 0 (``eval_on_start``) is before any update and is not read. That
  holds since transformers 4.51; older versions logged the NEXT update's lr
  there: ``hf(transformers_version="4.48.1")`` reads such a log. With
  ``keymap="hf"`` or ``"auto"`` the sources find the version themselves, in
  the model config the Trainer logs with the run (the checkpoint's
  ``config.json``, the MLflow param, the W&B config, TensorBoard's
  ``model_config`` text). HF
  logs group 0's lr only: replay every group with
  ``traj.schedules(groups="broadcast")``. The end-of-training summary
  (``train_runtime``, ``train_loss``, ``total_flos``, ...) is not a metric;
  W&B / TensorBoard names ``train/loss`` and ``eval/loss`` are read as
  ``loss`` and ``eval_loss`` (the ``log_history`` names).
- ``"lightning"``: the names of Lightning's ``LearningRateMonitor``
  (checked against Lightning 2.6's ``lr_monitor.py``); step column ``step``
  (``CSVLogger``, MLflow, TensorBoard) or ``trainer/global_step`` (W&B);
  Lightning logs update k's values at step k::

      lr-AdamW                    -> lr, g0           (one param group)
      lr-AdamW/pg1, lr-AdamW/pg2  -> lr, g0 / g1      (pgN is group N-1)
      lr-AdamW/head               -> lr, head         (a group with "name": "head")
      lr-SGD-momentum             -> momentum, g0     (log_momentum=True)
      lr-AdamW/pg2-momentum       -> betas.0, g1      (Adam-type: Lightning logs betas[0])
      lr-AdamW-weight_decay       -> weight_decay, g0 (log_weight_decay=True)

  A log holding several optimizers (``lr-Adam`` and ``lr-SGD``, or
  ``lr-Adam-1`` for a second Adam) is an error: pick one with
  ``lightning(name="lr-Adam-1")``; ``name`` is also how to read a scheduler
  given a custom ``"name"``. Momentum columns become ``betas.0`` for Adam,
  AdamW, Adamax, NAdam, RAdam and SparseAdam and ``momentum`` for SGD and
  RMSprop; for any other optimizer (or a custom name) pass ``momentum_key=``.
- ``"timm"``: timm's ``summary.csv`` (one row per epoch): ``lr`` -> ``lr,
  g0``, step column ``epoch``. timm writes the MEAN lr over the param groups,
  read at the end of the epoch; steps are epochs unless
  ``timm(updates_per_epoch=N)`` puts epoch ``e`` at update ``e * N``.
- ``"auto"``: looks at the column names and picks paramsched's own names
  (``hp/<key>/<group>``), then ``hf``, ``lightning``, ``timm``; the choice is
  written in ``traj.notes``.
- a dict ``{column: (key, group)}`` (or ``{column: "hp/<key>/<group>"}``):
  exactly those columns, every one of which must be in the log
  (:class:`DictKeyMap`; ``step_column=`` and ``step_offset=`` as options).

Without a key map (``keymap=None``), columns named ``hp/<key>/<group>`` are
series and any other numeric column is a metric.

Empty cells are "not logged at this step". A log written every N steps
(Lightning's default ``log_every_n_steps=50``, HF's ``logging_steps=500``)
has no value at most updates: the notes say so, and replaying it needs an
explicit fill (``traj.schedules(gaps="previous", before_start="first")`` or
the same options to ``load``), which is interpolation, never the exact values.

**For source authors** (MLflow, W&B, TensorBoard, ...): build a wide table
(one row per logged step, one column per logged name, NaN where a name has
no value) and call::

    from paramsched.replay._columns import table_columns
    frame, notes, metrics = table_columns(
        table, source=label, keymap=keymap, step_column=None, locate=None, with_metrics=True)
    Trajectory(frame, metadata, label, notes=notes, metrics=metrics)

(or ``Trajectory.from_wide(table, metadata, label, keymap=..., step_column=...)``,
which does the same). ``table_columns`` resolves ``"auto"``, picks the step
column (``step_column`` or the key map's ``step_columns``), applies the key
map's step convention (:meth:`KeyMap.to_updates`: the HF shift included) and
reads the metrics. A source that must pick the step column itself first
calls ``choose_keymap(keymap, columns, source=label)`` to resolve ``"auto"``
and then tries ``keymap.step_columns`` in order. Without ``with_metrics``,
``table_columns`` returns ``(frame, notes)`` as before.

>>> LightningKeyMap().map_columns(["lr-AdamW/pg1", "lr-AdamW/pg2", "train_loss"], source="log")
{'lr-AdamW/pg1': 'hp/lr/g0', 'lr-AdamW/pg2': 'hp/lr/g1'}
>>> HFKeyMap().to_updates(np.array([1, 2, 3])).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from paramsched.checks import check_positive_int, describe
from paramsched.naming import (
    STEP_SERIES,
    check_key_name,
    check_series_name,
    sanitize_label,
    series_name,
)

__all__ = [
    "KEYMAPS",
    "AutoKeyMap",
    "DictKeyMap",
    "HFKeyMap",
    "KeyMap",
    "LightningKeyMap",
    "ParamschedKeyMap",
    "TimmKeyMap",
    "choose_keymap",
    "hf",
    "informed_keymap",
    "lightning",
    "resolve_keymap",
    "timm",
]

_INT64_MAX = int(np.iinfo(np.int64).max)
# torch optimizers whose LearningRateMonitor "momentum" is betas[0] / momentum.
_BETAS_OPTIMIZERS = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam"})
_MOMENTUM_OPTIMIZERS = frozenset({"SGD", "RMSprop"})
_SUFFIXES = {"-momentum": "momentum", "-weight_decay": "weight_decay"}


class KeyMap(abc.ABC):
    """How to read one kind of foreign log (see the module docstring).

    Subclasses implement :meth:`map_columns`; the rest has defaults:

    - ``step_columns``: the step column names tried in order;
    - ``step_offset``: logged step ``s`` is update ``s - step_offset``
      (:meth:`to_updates`; override it for anything but a shift);
    - :meth:`metric_columns` / :meth:`metric_name`: which other columns are
      metrics and under which name;
    - ``convention``: a sentence for ``traj.notes`` saying how steps were
      read (``""``: nothing to say);
    - ``every_step_hint``: how to make the framework log every update, shown
      when a log is sparse.
    """

    name: str = "custom"
    step_columns: tuple[str, ...] = ("step",)
    step_offset: int = 0
    convention: str = ""
    every_step_hint: str = "log the values at every optimizer update"

    @abc.abstractmethod
    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        """``{column: series_name}`` for the columns this map reads (in column order)."""

    def to_updates(self, steps: np.ndarray, *, column: str = "step") -> np.ndarray:
        """The update index (paramsched's step) of each logged step (int64, may be < 0)."""
        if not self.step_offset:
            return steps
        return steps - np.int64(self.step_offset)

    def metric_columns(self, columns: Sequence[str]) -> list[str]:
        """The columns (not mapped to series, not the step) read as metrics.

        Default: all of them except names starting with ``_`` (tracker
        internals such as W&B's ``_step``, ``_runtime``) and ``hp/step``.
        """
        return [c for c in columns if not c.startswith("_") and c != STEP_SERIES]

    def metric_name(self, column: str) -> str:
        """The name a metric column gets in ``traj.metrics`` (default: unchanged)."""
        return column

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ParamschedKeyMap(KeyMap):
    """paramsched's own names: every ``hp/<key>/<group>`` column is a series (what ``keymap=None`` reads)."""

    name = "paramsched"

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        found = {
            c: check_series_name(c, source=source) for c in columns if c.startswith("hp/") and c != STEP_SERIES
        }
        if not found:
            raise ValueError(
                f"{source}: no series columns 'hp/<key>/<group>'; columns: {list(columns)}; for a log "
                "that paramsched did not write pass keymap='lightning', keymap='hf', keymap='timm', "
                "a dict {column: (key, group)}, or keymap='auto' to detect which"
            )
        return found


class DictKeyMap(KeyMap):
    """``{column: (key, group)}`` or ``{column: "hp/<key>/<group>"}``; every column must exist.

    ``step_column`` names the step column; ``step_offset=1`` reads a log
    whose step ``s`` holds update ``s - 1``.

    >>> DictKeyMap({"my_lr": ("lr", "g0")}).map_columns(["step", "my_lr"], source="log")
    {'my_lr': 'hp/lr/g0'}
    """

    name = "dict"

    def __init__(self, mapping: Mapping[str, Any], *, step_column: str = "step", step_offset: int = 0) -> None:
        if not isinstance(mapping, Mapping) or not mapping:
            raise TypeError(
                f"keymap must be a non-empty dict {{column: (key, group)}}, got keymap={describe(mapping)}"
            )
        self.mapping: dict[str, str] = {}
        for column, target in mapping.items():
            self.mapping[str(column)] = _target_series(column, target)
        if not isinstance(step_column, str) or not step_column:
            raise TypeError(f"step_column must be a column name, got step_column={describe(step_column)}")
        if isinstance(step_offset, bool) or not isinstance(step_offset, int):
            raise TypeError(f"step_offset must be an int, got step_offset={describe(step_offset)}")
        self.step_columns = (step_column,)
        self.step_offset = step_offset
        if step_offset:
            self.convention = f"logged step s holds update s - {step_offset} (step_offset={step_offset})"

    @classmethod
    def from_document(cls, document: Any, *, where: str = "keymap") -> DictKeyMap:
        """From JSON data: ``{column: [key, group], ...}`` or
        ``{"columns": {...}, "step_column": "it", "step_offset": 1}``."""
        if isinstance(document, Mapping) and isinstance(document.get("columns"), Mapping):
            extra = sorted(set(document) - {"columns", "step_column", "step_offset"})
            if extra:
                raise ValueError(
                    f"{where}: unknown entries {extra}; a keymap document holds 'columns', "
                    "'step_column' and 'step_offset'"
                )
            return cls(
                document["columns"],
                step_column=document.get("step_column", "step"),
                step_offset=document.get("step_offset", 0),
            )
        if not isinstance(document, Mapping):
            raise TypeError(
                f"{where} must hold a JSON object {{column: [key, group]}}, got {type(document).__name__}"
            )
        return cls(document)

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        missing = [c for c in self.mapping if c not in columns]
        if missing:
            raise ValueError(f"{source}: keymap column(s) {missing} not in the log; columns: {list(columns)}")
        return {c: self.mapping[c] for c in columns if c in self.mapping}

    def __repr__(self) -> str:
        options = f", step_column={self.step_columns[0]!r}" if self.step_columns != ("step",) else ""
        options += f", step_offset={self.step_offset}" if self.step_offset else ""
        return f"DictKeyMap({self.mapping!r}{options})"


class HFKeyMap(KeyMap):
    """Hugging Face Trainer logs (see the module docstring).

    Since transformers 4.51 the Trainer logs the lr update ``k`` used at
    ``global_step = k + 1``. transformers 4.50 and older stepped the lr
    scheduler first and logged the lr of the NEXT update there (update
    ``k + 1`` at ``global_step = k + 1``; update 0's lr is not in the log):
    pass the version that wrote the log (``transformers_version=``; for
    ``keymap="hf"`` the sources read it from the model config logged with the
    run: see :func:`informed_keymap`), or ``step_offset`` yourself.

    Args:
        step_offset: logged step ``s`` is update ``s - step_offset``
            (default: 1, or what ``transformers_version`` implies).
        transformers_version: the transformers version that wrote the log,
            e.g. ``"4.48.1"``: before 4.51 the offset is 0.

    >>> HFKeyMap(transformers_version="4.48.1").step_offset, HFKeyMap().step_offset
    (0, 1)
    """

    name = "hf"
    step_columns = ("step", "train/global_step", "global_step")
    every_step_hint = "log every update: TrainingArguments(logging_steps=1)"
    _COLUMNS = ("learning_rate", "train/learning_rate")
    # What Trainer.train() logs once, at the end: a summary of the run, not a metric per step.
    SUMMARY = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")

    FIXED_IN = (4, 51)  # transformers PR #36973: log the lr of the update just performed

    def __init__(self, *, step_offset: int | None = None, transformers_version: str | None = None) -> None:
        if step_offset is not None and (isinstance(step_offset, bool) or not isinstance(step_offset, int)):
            raise TypeError(f"step_offset must be an int, got step_offset={describe(step_offset)}")
        version = None if transformers_version is None else _version(transformers_version)
        self.transformers_version = transformers_version
        if step_offset is None:
            step_offset = 0 if version is not None and version < self.FIXED_IN else 1
        self.step_offset = step_offset
        written = f" written by transformers {transformers_version}" if transformers_version else ""
        if step_offset == 1:
            self.convention = (
                f"Hugging Face Trainer log{written}: the lr of update k is logged at global_step k + 1, "
                "so logged step s was read as update s - 1"
            )
            if version is None:
                self.convention += (
                    " (transformers >= 4.51; an older transformers logged the lr of the next update: "
                    "pass keymap=paramsched.replay.keymaps.hf(transformers_version=...))"
                )
        elif step_offset == 0 and version is not None and version < self.FIXED_IN:
            self.convention = (
                f"Hugging Face Trainer log{written}: before 4.51 the Trainer logged the lr of the NEXT "
                "update at global_step k + 1, so logged step s was read as update s; update 0's lr is "
                "not in the log"
            )
        else:
            self.convention = f"Hugging Face Trainer log{written} read with step_offset={step_offset}"

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        found = {c: series_name("lr", "g0") for c in columns if c in self._COLUMNS}
        if not found:
            raise ValueError(
                f"{source}: keymap 'hf' found none of the columns {list(self._COLUMNS)}; "
                f"columns: {list(columns)}"
            )
        return found

    def metric_columns(self, columns: Sequence[str]) -> list[str]:
        summary = {*self.SUMMARY, *(f"train/{c}" for c in self.SUMMARY)}
        return [c for c in super().metric_columns(columns) if c not in summary]

    def metric_name(self, column: str) -> str:
        # The inverse of transformers' rewrite_logs (W&B, TensorBoard): back to log_history names.
        if column.startswith("train/"):
            return column[len("train/"):]
        for prefix in ("eval", "test"):
            if column.startswith(f"{prefix}/"):
                return f"{prefix}_{column[len(prefix) + 1:]}"
        return column

    def __repr__(self) -> str:
        options = [f"step_offset={self.step_offset}"] if self.step_offset != 1 else []
        if self.transformers_version is not None:
            options.append(f"transformers_version={self.transformers_version!r}")
        return f"HFKeyMap({', '.join(options)})"


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
    step_columns = ("step", "trainer/global_step")
    every_step_hint = "log every update: Trainer(log_every_n_steps=1)"
    _AUTO = re.compile(r"^(lr-[A-Za-z_][A-Za-z0-9_]*(?:-\d+)?)(?=$|/|-momentum$|-weight_decay$)")

    def __init__(self, name: str | None = None, *, momentum_key: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(
                f"name must be a LearningRateMonitor logging name or None, got name={describe(name)}"
            )
        if momentum_key is not None:
            check_key_name(momentum_key)
        self.logging_name = name
        self.momentum_key = momentum_key

    @classmethod
    def detects(cls, columns: Sequence[str]) -> list[str]:
        """The ``lr-<Optimizer>`` logging names found in ``columns``."""
        return list(dict.fromkeys(m.group(1) for c in columns if (m := cls._AUTO.match(c))))

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        prefix = self.logging_name
        if prefix is None:
            prefixes = self.detects(columns)
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


class TimmKeyMap(KeyMap):
    """timm's ``summary.csv``: ``epoch, train_loss, eval_loss, eval_top1, ..., lr``.

    Args:
        updates_per_epoch: ``None`` keeps epochs as steps; ``N`` puts epoch
            ``e`` at update ``e * N`` (the updates in between are gaps: fill
            them with ``gaps="previous"``, exact for timm's per-epoch
            schedulers, which change the lr only between epochs).
    """

    name = "timm"
    step_columns = ("epoch",)
    every_step_hint = "log the lr at every update (summary.csv has one row per epoch)"

    def __init__(self, *, updates_per_epoch: int | None = None) -> None:
        if updates_per_epoch is not None:
            check_positive_int("updates_per_epoch", updates_per_epoch)
        self.updates_per_epoch = updates_per_epoch
        where = (
            "steps are epochs (pass keymap=paramsched.replay.keymaps.timm(updates_per_epoch=N) to put "
            "epoch e at update e*N)"
            if updates_per_epoch is None
            else f"epoch e was read as update e*{updates_per_epoch}"
        )
        self.convention = (
            f"timm summary.csv: one row per epoch, {where}; its lr is the mean over the param groups, "
            "read at the end of the epoch"
        )

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        if "lr" not in columns:
            raise ValueError(f"{source}: keymap 'timm' found no column 'lr'; columns: {list(columns)}")
        return {"lr": series_name("lr", "g0")}

    def to_updates(self, steps: np.ndarray, *, column: str = "epoch") -> np.ndarray:
        n = self.updates_per_epoch
        if n is None:
            return steps
        if len(steps) and int(steps.max()) > _INT64_MAX // n:
            raise ValueError(f"epoch {int(steps.max())} x updates_per_epoch={n} overflows int64")
        return steps * np.int64(n)

    def __repr__(self) -> str:
        options = f"updates_per_epoch={self.updates_per_epoch}" if self.updates_per_epoch else ""
        return f"TimmKeyMap({options})"


class AutoKeyMap(KeyMap):
    """Picks the key map from the column names (see :func:`choose_keymap`)."""

    name = "auto"
    step_columns = ("step", "train/global_step", "global_step", "trainer/global_step", "epoch")

    def __init__(self, *, transformers_version: str | None = None) -> None:
        self.transformers_version = transformers_version  # for a log it reads as a Hugging Face one

    def choose(self, columns: Sequence[str], *, source: str) -> tuple[KeyMap, str]:
        """The key map for a log with these columns, and a note saying what was chosen and why."""
        names = list(columns)
        hp = [c for c in names if c.startswith("hp/") and c != STEP_SERIES]
        if hp:
            return ParamschedKeyMap(), ""
        hf_found = [c for c in names if c in HFKeyMap._COLUMNS]
        if hf_found:
            return (
                HFKeyMap(transformers_version=self.transformers_version),
                f"keymap='auto' read this log as a Hugging Face Trainer log ('hf': found {hf_found[0]!r})",
            )
        lightning_found = LightningKeyMap.detects(names)
        if len(lightning_found) == 1:
            return LightningKeyMap(), (
                f"keymap='auto' read this log as a Lightning LearningRateMonitor log ('lightning': "
                f"found {lightning_found[0]!r})"
            )
        if len(lightning_found) > 1:
            raise ValueError(
                f"{source}: keymap='auto' found several Lightning optimizers {lightning_found}; pick one "
                "with keymap=paramsched.replay.keymaps.lightning(name=...)"
            )
        if "lr" in names and "epoch" in names:
            return TimmKeyMap(), "keymap='auto' read this log as a timm summary.csv ('timm': found 'lr' and 'epoch')"
        raise ValueError(
            f"{source}: keymap='auto' found no known names: paramsched's 'hp/<key>/<group>', Hugging "
            f"Face's {list(HFKeyMap._COLUMNS)}, Lightning's 'lr-<Optimizer>...', or timm's 'lr' with "
            f"'epoch'; columns: {names}; pass a dict keymap {{column: (key, group)}}"
        )

    def map_columns(self, columns: Sequence[str], *, source: str) -> dict[str, str]:
        keymap, _ = self.choose(columns, source=source)
        return keymap.map_columns(columns, source=source)


def informed_keymap(keymap: Any, *, transformers_version: Any = None) -> Any:
    """``keymap`` told what the run itself says about how it was logged.

    A Hugging Face Trainer logs its model config with the run (an MLflow
    param, the W&B config, the checkpoint's ``config.json``), which names the
    ``transformers_version`` that wrote it, and so the step convention (see
    :class:`HFKeyMap`). Sources pass it here for ``keymap="hf"`` and
    ``keymap="auto"``; a key map the caller built (``hf(step_offset=...)``)
    and a value that is not a version are left as they are.

    >>> informed_keymap("hf", transformers_version="4.48.1")
    HFKeyMap(step_offset=0, transformers_version='4.48.1')
    >>> informed_keymap("hf", transformers_version="unknown")
    'hf'
    >>> informed_keymap("hf", transformers_version="4.48.1" + "x" * 1000)
    'hf'
    """
    if not isinstance(transformers_version, str) or not _VERSION.match(transformers_version):
        return keymap
    if isinstance(keymap, str) and keymap == "hf":
        return HFKeyMap(transformers_version=transformers_version)
    if isinstance(keymap, str) and keymap == "auto":
        return AutoKeyMap(transformers_version=transformers_version)
    return keymap


# What a log may name as its version (a hostile one's text never reaches the notes).
_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+[0-9A-Za-z.+-]{0,40}$")


def lightning(name: str | None = None, *, momentum_key: str | None = None) -> LightningKeyMap:
    """The Lightning key map for one logging name (see :class:`LightningKeyMap`)."""
    return LightningKeyMap(name, momentum_key=momentum_key)


def hf(*, step_offset: int | None = None, transformers_version: str | None = None) -> HFKeyMap:
    """The Hugging Face Trainer key map (see :class:`HFKeyMap`).

    >>> hf(transformers_version="4.50.3")
    HFKeyMap(step_offset=0, transformers_version='4.50.3')
    """
    return HFKeyMap(step_offset=step_offset, transformers_version=transformers_version)


def _version(text: Any) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``"4.48.1"`` or ``"5.0.0.dev0"``."""
    match = re.match(r"^v?([0-9]+)\.([0-9]+)", text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"transformers_version must be a version such as '4.48.1', got transformers_version={describe(text)}"
        )
    return int(match.group(1)), int(match.group(2))


def timm(*, updates_per_epoch: int | None = None) -> TimmKeyMap:
    """The timm ``summary.csv`` key map (see :class:`TimmKeyMap`)."""
    return TimmKeyMap(updates_per_epoch=updates_per_epoch)


KEYMAPS: dict[str, type[KeyMap]] = {
    "auto": AutoKeyMap,
    "hf": HFKeyMap,
    "lightning": LightningKeyMap,
    "paramsched": ParamschedKeyMap,
    "timm": TimmKeyMap,
}
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


def choose_keymap(keymap: Any, columns: Sequence[str], *, source: str) -> tuple[KeyMap, list[str]]:
    """The key map to read a log with these columns (``"auto"`` resolved), and notes.

    ``None`` gives :class:`ParamschedKeyMap` (paramsched's own names). A
    non-trivial step convention is stated in the notes.
    """
    km = resolve_keymap(keymap)
    notes: list[str] = []
    if km is None:
        km = ParamschedKeyMap()
    if isinstance(km, AutoKeyMap):
        km, chosen = km.choose(columns, source=source)
        if chosen:
            notes.append(chosen)
    if km.convention:
        notes.append(km.convention)
    return km, notes


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
