"""`Trajectory`: the values a run applied, one float64 column per series, indexed by step.

A trajectory is what every replay source returns. Its frame has an int64
index named ``step`` (sorted, unique, >= 0) and one float64 column per series
``hp/<key>/<group>``; a NaN cell means "not logged at this step" (a log
written every N steps, or series logged at different steps). Recorded values
are always finite: NaN is never a value.

>>> import pandas as pd
>>> traj = Trajectory.from_wide(pd.DataFrame({"step": [0, 1, 2], "hp/lr/g0": [0.1, 0.2, 0.3]}))
>>> traj.series, traj.keys, traj.groups
(['hp/lr/g0'], ['lr'], ['g0'])
>>> s = traj.schedules()[("lr", "g0")]
>>> s(1, 3)
0.2
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from paramsched.checks import check_choice, check_positive_int, describe
from paramsched.events import check_event
from paramsched.naming import (
    check_key_name,
    check_series_name,
    parse_series_name,
    sanitize_label,
    series_name,
)
from paramsched.replay._columns import (
    STEP,
    assemble,
    coerce_steps,
    coerce_values,
    row_locator,
    sequence_of_str,
    table_columns,
)

if TYPE_CHECKING:
    from paramsched.schedules.replayed import ReplaySchedule

__all__ = ["Trajectory"]

_LONG_COLUMNS = ("step", "key", "group", "value")


class Trajectory:
    """The applied values of one run: ``frame`` (step x series), ``metadata`` and ``source``.

    Args:
        frame: a DataFrame with an int64 index named ``"step"`` (sorted,
            unique, >= 0) and one float64 column per series ``hp/<key>/<group>``;
            NaN marks a step where that series was not logged. The frame is
            kept as it is (not copied); treat it as read-only. To build one
            from raw rows (unsorted, duplicated steps, text values) use
            :meth:`from_wide` or :meth:`from_long`.
        metadata: the run metadata document (``paramsched.runformat``)
            when the run has one, else ``None``.
        source: where the values came from, used in every error message.
        notes: what the reader normalized on the way (duplicated steps that
            kept their last row, sorted steps, a dropped unfinished last line).
        events: the run's events (:mod:`paramsched.events`: interventions,
            drift, resumes, policy decisions), in the order they happened,
            without those a resume made void.
        metrics: the training metrics the log holds beside the schedules
            (loss, val loss, ...): a DataFrame indexed by ``step`` with one
            float64 column per metric (NaN: not logged at that step), or
            ``None`` when the source has none.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        metadata: Mapping[str, Any] | None = None,
        source: str = "",
        *,
        notes: Sequence[str] = (),
        events: Sequence[Mapping[str, Any]] = (),
        metrics: pd.DataFrame | None = None,
    ) -> None:
        if not isinstance(source, str):
            raise TypeError(f"source must be a string, got source={describe(source)}")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict or None, got metadata={describe(metadata)}")
        self.source = source
        self.frame = _check_frame(frame, source or "trajectory")
        self.metadata: dict[str, Any] | None = dict(metadata) if metadata is not None else None
        self.notes: tuple[str, ...] = tuple(notes)
        label = source or "trajectory"
        self.events: tuple[dict[str, Any], ...] = tuple(
            check_event(event, f"{label}: events[{i}]") for i, event in enumerate(events)
        )
        self.metrics: pd.DataFrame | None = None if metrics is None else _check_metrics(metrics, label)

    @property
    def lineage(self) -> dict[str, Any] | None:
        """Where this run branched from (``metadata["parent"]``: the parent's source, run id,
        fingerprint, branch step, ...), or ``None`` for a run that is not a branch."""
        parent = (self.metadata or {}).get("parent")
        return dict(parent) if isinstance(parent, Mapping) else None

    # -- building --------------------------------------------------------------

    @classmethod
    def from_wide(
        cls,
        df: pd.DataFrame,
        metadata: Mapping[str, Any] | None = None,
        source: str = "",
        *,
        keymap: Any = None,
        step_column: str | None = None,
    ) -> Trajectory:
        """From a table with a ``step`` column (or index) and one column per series.

        Steps are sorted, a duplicated step keeps its last row, empty cells
        are "not logged"; a non-numeric or non-finite value raises naming the
        series and the step. ``keymap`` maps the columns of a foreign log
        (see :mod:`paramsched.replay.keymaps`).

        >>> import pandas as pd
        >>> df = pd.DataFrame({"step": [1, 0, 1], "hp/lr/g0": [0.5, 0.1, 0.2]})
        >>> Trajectory.from_wide(df).frame["hp/lr/g0"].tolist()
        [0.1, 0.2]
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got df={describe(df)}")
        label = source or "DataFrame"
        frame, notes, metrics = table_columns(
            df, source=label, keymap=keymap, step_column=step_column, with_metrics=True, metadata=metadata
        )
        return cls(frame, metadata, source, notes=notes, metrics=metrics)

    @classmethod
    def from_long(
        cls,
        df: pd.DataFrame,
        metadata: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> Trajectory:
        """From a long table with columns ``step, key, group, value`` (one row per value).

        >>> import pandas as pd
        >>> df = pd.DataFrame({"step": [0, 0, 1], "key": ["lr", "lr", "lr"],
        ...                    "group": ["g0", "head", "g0"], "value": [0.1, 1.0, 0.2]})
        >>> Trajectory.from_long(df).series
        ['hp/lr/g0', 'hp/lr/head']
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got df={describe(df)}")
        label = source or "DataFrame"
        missing = [c for c in _LONG_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(
                f"{label}: a long table needs columns {list(_LONG_COLUMNS)}, missing {missing}; "
                f"got columns {[str(c) for c in df.columns]}"
            )
        locate = row_locator("row")
        steps = coerce_steps(df["step"], source=label, locate=locate)
        keys = df["key"].to_numpy(dtype=object)
        groups = df["group"].to_numpy(dtype=object)
        names = np.empty(len(df), dtype=object)
        cache: dict[tuple[Any, Any], str] = {}
        for i, (key, group) in enumerate(zip(keys.tolist(), groups.tolist(), strict=True)):
            name = cache.get((key, group))
            if name is None:
                name = _long_series_name(key, group, label, locate(i))
                cache[(key, group)] = name
            names[i] = name
        raw = df["value"]
        if len(df) == 0:
            raise ValueError(f"{label}: the log has no rows")
        order = list(dict.fromkeys(names.tolist()))
        columns: dict[str, np.ndarray] = {}
        all_steps: list[np.ndarray] = []
        for name in order:
            rows = np.flatnonzero(names == name)
            s = steps[rows]
            columns[name] = coerce_values(raw.iloc[rows], source=label, series=name, steps=s)
            all_steps.append(s)
        # Each series has its own rows: assemble them one by one, then align.
        frames, notes = [], []
        for (name, values), s in zip(columns.items(), all_steps, strict=True):
            frame, series_notes = assemble(s, {name: values}, source=label)
            frames.append(frame)
            notes.extend(f"{name}: {n}" for n in series_notes)
        frame = pd.concat(frames, axis=1, sort=True) if len(frames) > 1 else frames[0]
        frame.index = frame.index.astype(np.int64)
        frame.index.name = STEP
        return cls(frame, metadata, source, notes=notes)

    # -- reading ---------------------------------------------------------------

    @property
    def series(self) -> list[str]:
        """Every series name, in column order."""
        return [str(c) for c in self.frame.columns]

    @property
    def keys(self) -> list[str]:
        """The scheduled keys (``lr``, ``betas.0``, ...), in order of first appearance."""
        return list(dict.fromkeys(parse_series_name(s)[0] for s in self.series))

    @property
    def groups(self) -> list[str]:
        """The group labels, in order of first appearance."""
        return list(dict.fromkeys(parse_series_name(s)[1] for s in self.series))

    @property
    def total_steps(self) -> int:
        """The run length: ``metadata["total_steps"]`` when known, else last step + 1."""
        if self.metadata is not None:
            total = self.metadata.get("total_steps")
            if isinstance(total, int) and not isinstance(total, bool) and total > 0:
                return total
        return int(self.frame.index[-1]) + 1 if len(self.frame) else 0

    def values(self, series: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` actually recorded for one series (no NaN holes)."""
        if series not in self.frame.columns:
            raise ValueError(f"{self._label}: no series {series!r}; series: {self.series}")
        col = self.frame[series].to_numpy()
        mask = ~np.isnan(col)
        return self.frame.index.to_numpy()[mask], col[mask]

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        if len(self.frame):
            span = f"steps {int(self.frame.index[0])}..{int(self.frame.index[-1])}"
        else:
            span = "no steps"
        return f"Trajectory(source={self.source!r}, {span}, series={self.series!r})"

    def equals(self, other: Trajectory) -> bool:
        """Same series, same steps, values ``==`` (missing matches missing); metadata and
        the order of the series ignored."""
        if not isinstance(other, Trajectory):
            raise TypeError(f"other must be a Trajectory, got other={describe(other)}")
        return self.frame.sort_index(axis=1).equals(other.frame.sort_index(axis=1))

    # -- replay ----------------------------------------------------------------

    def schedules(
        self,
        keys: str | Sequence[str] | None = None,
        groups: Mapping[str, str | Sequence[str]] | str | None = None,
        *,
        gaps: str = "error",
        after_end: str = "error",
        before_start: str = "error",
    ) -> dict[Any, ReplaySchedule]:
        """One :class:`ReplaySchedule` per series, keyed ``(key, group_label)``.

        This is the mapping ``ParamScheduler`` takes as ``schedules``: a
        ``(key, group_label)`` entry schedules that key for that group only.
        ``keys`` keeps only some keys (the others can be scheduled fresh by
        adding ``{"weight_decay": ps.Cosine(...)}`` to the mapping).

        ``groups``:

        - ``None``: one schedule per recorded (key, group);
        - a dict renames group labels (old -> new) for a model that names its
          groups differently; a list of labels replays one logged group to
          several groups (``{"g0": ["g0", "g1"]}``: a Hugging Face run's
          group-0 lr for both its decay and no-decay groups);
        - ``"broadcast"``: a log that holds ONE group per key (a Hugging Face
          Trainer logs group 0's lr only) replays that series to EVERY group:
          the result is keyed by key alone (``{"lr": ReplaySchedule}``). Exact
          when every group followed the same values (the Trainer's decay and
          no-decay groups share one lr schedule).

        ``gaps`` and ``after_end`` are passed to every :class:`ReplaySchedule`.
        ``before_start="first"`` gives the steps before a series' first
        logged step its first value (a log that starts late, e.g. every 50
        steps from step 49); like ``gaps="previous"``/``"linear"`` those
        values are interpolated, not the ones the run used.

        >>> import pandas as pd
        >>> df = pd.DataFrame({"step": [0, 1], "hp/lr/g0": [0.1, 0.2], "hp/lr/g1": [1.0, 2.0]})
        >>> sorted(Trajectory.from_wide(df).schedules(groups={"g1": "head"}))
        [('lr', 'g0'), ('lr', 'head')]
        >>> hf = Trajectory.from_wide(pd.DataFrame({"step": [0, 1], "hp/lr/g0": [0.1, 0.2]}))
        >>> list(hf.schedules(groups="broadcast"))
        ['lr']
        >>> sorted(hf.schedules(groups={"g0": ["decay", "no_decay"]}))
        [('lr', 'decay'), ('lr', 'no_decay')]
        """
        from paramsched.replay._columns import sparse_summary
        from paramsched.schedules.replayed import ReplaySchedule

        check_choice("gaps", gaps, ("error", "previous", "linear"))
        check_choice("after_end", after_end, ("error", "hold"))
        check_choice("before_start", before_start, ("error", "first"))
        broadcast = False
        if isinstance(groups, str):
            if groups != "broadcast":
                raise ValueError(
                    f"groups must be None, a dict {{old_label: new_label}} or 'broadcast', got groups={groups!r}"
                )
            broadcast = True
        traj = self.select(keys=keys)
        fan_out: dict[str, list[str]] = {}
        if isinstance(groups, Mapping) and any(isinstance(v, (list, tuple)) for v in groups.values()):
            fan_out = _fan_out(groups, traj.groups, self._label)
        elif groups is not None and not broadcast:
            traj = traj.with_groups(groups)
        if broadcast:
            several = {
                key: [g for k, g in map(parse_series_name, traj.series) if k == key]
                for key in traj.keys
            }
            several = {k: g for k, g in several.items() if len(g) > 1}
            if several:
                key, labels = next(iter(several.items()))
                raise ValueError(
                    f"{self._label}: groups='broadcast' replays the one logged group of a key to every "
                    f"group, but key {key!r} was logged for groups {labels}; use groups=None (one "
                    "schedule per group) or a dict that renames them"
                )
        out: dict[Any, ReplaySchedule] = {}
        for name in traj.series:
            steps, values = traj.values(name)
            where = f"{self._label}: series {name!r}"
            if broadcast:
                where += " (broadcast to every group)"
            if int(steps[0]) > 0 and before_start == "error":
                # A replay from step 0 fails with "no value recorded before step N", naming
                # the schedule: say there why (a gap's own error already says what to pass).
                every = np.diff(steps)
                stride = int(every[0]) if len(every) and (every == every[0]).all() and every[0] > 1 else 0
                how = (
                    f"log every update from step 0 (a log written every {stride} updates is a chart: "
                    "with Lightning, Trainer(log_every_n_steps=1))" if stride else "log every update from step 0"
                )
                where += (
                    f" (a log that starts late: {sparse_summary(steps)}; {how}, "
                    "or fill it with schedules(gaps='previous', before_start='first'): interpolated "
                    "values, not the run's; see traj.notes)"
                )
            if before_start == "first" and int(steps[0]) > 0:
                steps, values = _hold_first(steps, values, gaps, where)
            key, label = parse_series_name(name)
            if broadcast:
                out[key] = ReplaySchedule(values, steps, gaps=gaps, after_end=after_end, name=where)
                continue
            for target in fan_out.get(label, [label]):
                shown = where if target == label else f"{where} (for group {target!r})"
                out[(key, target)] = ReplaySchedule(values, steps, gaps=gaps, after_end=after_end, name=shown)
        return out

    # -- deriving --------------------------------------------------------------

    def select(
        self, keys: str | Sequence[str] | None = None, groups: str | Sequence[str] | None = None
    ) -> Trajectory:
        """Only the series of the given keys and/or groups (metadata kept: values are unchanged)."""
        key_list = sequence_of_str("keys", keys)
        group_list = sequence_of_str("groups", groups)
        for name, wanted, present in (("keys", key_list, self.keys), ("groups", group_list, self.groups)):
            unknown = [w for w in wanted or () if w not in present]
            if unknown:
                raise ValueError(f"{self._label}: {name} {unknown} not in this trajectory; it has {name} {present}")
        chosen = [
            s
            for s in self.series
            if (key_list is None or parse_series_name(s)[0] in key_list)
            and (group_list is None or parse_series_name(s)[1] in group_list)
        ]
        kept = set(chosen)
        events = [e for e in self.events if e["series"] is None or e["series"] in kept]
        return Trajectory(
            self.frame[chosen], self.metadata, self.source, notes=self.notes, events=events, metrics=self.metrics
        )

    def with_groups(self, mapping: Mapping[str, str]) -> Trajectory:
        """Group labels renamed (``{"old": "new"}``); unnamed groups keep their label.

        The values no longer match the run's metadata labels, so the result
        has ``metadata=None``.
        """
        if not isinstance(mapping, Mapping):
            raise TypeError(f"groups must be a dict {{old_label: new_label}}, got groups={describe(mapping)}")
        present = self.groups
        unknown = [old for old in mapping if old not in present]
        if unknown:
            raise ValueError(f"{self._label}: groups {unknown} not in this trajectory; it has groups {present}")
        for old, new in mapping.items():
            if not isinstance(new, str) or not new or sanitize_label(new) != new:
                raise ValueError(
                    f"a new group label may contain only letters, digits, '_', '-', '.', '/' and "
                    f"spaces, got groups[{old!r}]={new!r}"
                )
        labels = [mapping.get(g, g) for g in present]
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise ValueError(f"{self._label}: groups={dict(mapping)!r} gives several groups the label(s) {dup}")
        renamed = {}
        for s in self.series:
            key, label = parse_series_name(s)
            renamed[s] = series_name(key, mapping.get(label, label))
        frame = self.frame.rename(columns=renamed)
        events = [dict(e, series=renamed.get(e["series"], e["series"])) for e in self.events]
        return Trajectory(
            frame, None, f"{self.source} (groups renamed)", notes=self.notes, events=events, metrics=self.metrics
        )

    def filled(self, gaps: str = "previous") -> Trajectory:
        """Every step between each series' first and last recorded step given a value.

        ``gaps="previous"`` repeats the last recorded value, ``"linear"``
        interpolates between the recorded neighbours (recorded values are
        kept exactly). The result has ``metadata=None``.
        """
        from paramsched.schedules.replayed import ReplaySchedule

        check_choice("gaps", gaps, ("previous", "linear"))
        if not len(self.frame):
            return Trajectory(self.frame, None, self.source, notes=self.notes)
        index = np.arange(int(self.frame.index[0]), int(self.frame.index[-1]) + 1, dtype=np.int64)
        data = {}
        for name in self.series:
            steps, values = self.values(name)
            sched = ReplaySchedule(values, steps, gaps=gaps)
            col = np.full(len(index), np.nan)
            lo, hi = int(steps[0]) - int(index[0]), int(steps[-1]) - int(index[0]) + 1
            col[lo:hi] = sched.dense_values()
            data[name] = col
        frame = pd.DataFrame(data, index=pd.Index(index, name=STEP))
        return Trajectory(
            frame, None, f"{self.source} (gaps filled: {gaps})", notes=self.notes, events=self.events,
            metrics=self.metrics,
        )

    def rescaled(self, total_steps: int, interpolation: str = "nearest") -> Trajectory:
        """This trajectory mapped onto a run of ``total_steps`` updates, by fraction of the run.

        With ``T = self.total_steps`` (the old run length) and ``N =
        total_steps``, new step ``j`` (``0 <= j < N``) reads old position
        ``x = j * T / N``:

        - ``"nearest"``: the value at old step ``floor(x + 1/2)`` (halves
          round up), capped at ``T - 1``;
        - ``"linear"``: ``v[i] + (x - i) * (v[i+1] - v[i])`` with ``i =
          floor(x)`` (computed so that it never leaves ``[v[i], v[i+1]]``),
          and exactly ``v[i]`` when ``x`` is a whole step (``v[T]`` is taken
          as ``v[T-1]``).

        So fraction ``f = j / N`` of the new run reads fraction ``f`` of the
        old one; every old step 0..T-1 must be recorded (use
        :meth:`filled` first for a sparse log). Positions are computed in
        integer arithmetic, so an exact fraction (e.g. ``j = N/4``) reads the
        exact recorded value. The result has ``metadata=None``.

        >>> import pandas as pd
        >>> t = Trajectory.from_wide(pd.DataFrame({"step": [0, 1, 2, 3], "hp/lr/g0": [0.0, 1.0, 2.0, 3.0]}))
        >>> t.rescaled(8, "linear").frame["hp/lr/g0"].tolist()
        [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
        """
        from paramsched.schedules._math import lerp_array

        new = check_positive_int("total_steps", total_steps)
        check_choice("interpolation", interpolation, ("nearest", "linear"))
        old = self.total_steps
        if old < 1:
            raise ValueError(f"{self._label}: cannot rescale an empty trajectory")
        j = np.arange(new, dtype=np.int64)
        num = j * old  # x = num / new, exactly
        if interpolation == "nearest":
            lo = np.minimum((2 * num + new) // (2 * new), old - 1)
            hi, frac = lo, None
        else:
            lo = num // new
            rem = num - lo * new
            hi = np.minimum(lo + 1, old - 1)
            frac = rem / new
        data = {}
        for name in self.series:
            dense = self._dense_prefix(name, old)
            v0 = dense[lo]
            if frac is None:
                data[name] = v0
            else:
                data[name] = np.where(frac == 0.0, v0, lerp_array(v0, dense[hi], frac))
        frame = pd.DataFrame(data, index=pd.Index(j, name=STEP))
        label = f"{self.source} (rescaled {old} -> {new} steps, {interpolation})"
        return Trajectory(frame, None, label, notes=self.notes)

    def _dense_prefix(self, name: str, old: int) -> np.ndarray:
        """Values of steps 0..old-1 for one series; raises on the first missing step."""
        col = self.frame[name].reindex(pd.RangeIndex(old)).to_numpy()
        missing = np.isnan(col)
        if missing.any():
            step = int(np.argmax(missing))
            raise ValueError(
                f"{self._label}: series {name!r} has no value at step {step}; rescaled() needs every "
                f"step 0..{old - 1} (call .filled(gaps='previous') or .filled(gaps='linear') first)"
            )
        return col

    # -- comparing, exporting ----------------------------------------------------

    def diff(self, other: Trajectory) -> pd.DataFrame:
        """Per series: first diverging step, max abs difference; see :func:`paramsched.replay.diff.diff`."""
        from paramsched.replay.diff import diff

        return diff(self, other)

    def to_csv(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the CSV run format (``values.csv`` + ``run.json`` when there is metadata).

        Floats are written with ``repr``, a missing value as an empty cell,
        so ``load(path)`` gives back the same frame and metadata.
        """
        from paramsched.runformat import write_run

        return write_run(
            path, self.frame, self.metadata, events=self.events, metrics=self.metrics, overwrite=overwrite
        )

    def plot(self, keys: str | Sequence[str] | None = None) -> Any:
        """A matplotlib figure: one panel per key, one line per group. Needs matplotlib."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("Trajectory.plot() needs matplotlib: pip install matplotlib") from exc
        traj = self.select(keys=keys)
        key_list = traj.keys
        fig, axes = plt.subplots(
            max(len(key_list), 1), 1, sharex=True, squeeze=False, figsize=(8, 2.5 * max(len(key_list), 1))
        )
        for ax, key in zip(axes[:, 0], key_list, strict=True):
            for name in traj.series:
                k, label = parse_series_name(name)
                if k == key:
                    steps, values = traj.values(name)
                    ax.plot(steps, values, label=label)
            ax.set_ylabel(key)
            ax.legend(loc="best", fontsize="small")
        axes[-1, 0].set_xlabel("step")
        fig.suptitle(self.source or "trajectory")
        return fig

    @property
    def _label(self) -> str:
        return self.source or "trajectory"


def _fan_out(groups: Mapping[str, Any], present: Sequence[str], label: str) -> dict[str, list[str]]:
    """``{logged_label: [new labels]}`` from a ``groups=`` dict whose values are labels or lists of them."""
    unknown = [old for old in groups if old not in present]
    if unknown:
        raise ValueError(f"{label}: groups {unknown} not in this trajectory; it has groups {list(present)}")
    out: dict[str, list[str]] = {}
    for old in present:
        new = groups.get(old, old)
        targets = [new] if isinstance(new, str) else list(new) if isinstance(new, (list, tuple)) else None
        if not targets or not all(isinstance(t, str) and t and sanitize_label(t) == t for t in targets):
            raise ValueError(
                "groups maps a logged group label to a new label or a non-empty list of them (letters, "
                f"digits, '_', '-', '.', '/' and spaces), got groups[{old!r}]={new!r}"
            )
        out[old] = targets
    labels = [t for targets in out.values() for t in targets]
    dup = sorted({t for t in labels if labels.count(t) > 1})
    if dup:
        raise ValueError(f"{label}: groups={dict(groups)!r} gives several groups the label(s) {dup}")
    return out


def _hold_first(steps: np.ndarray, values: np.ndarray, gaps: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps 0..first-1 given the first value (``before_start="first"``)."""
    first = int(steps[0])
    if gaps != "error":  # one point at step 0 is enough: the gap policy holds it (lerp of equal ends)
        return np.concatenate([[0], steps]), np.concatenate([values[:1], values])
    if first > 1 << 26:
        raise ValueError(
            f"{where}: before_start='first' would hold the first value over {first} steps; "
            "pass gaps='previous' too"
        )
    prefix = np.arange(first, dtype=np.int64)
    return np.concatenate([prefix, steps]), np.concatenate([np.full(first, values[0]), values])


def _check_frame(frame: Any, label: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got frame={describe(frame)}")
    index = frame.index
    if index.name != STEP:
        raise ValueError(
            f"{label}: the frame index must be named 'step', got {index.name!r} "
            "(use Trajectory.from_wide for a table with a step column)"
        )
    if not pd.api.types.is_integer_dtype(index.dtype):
        raise TypeError(f"{label}: the step index must hold integers, got dtype {index.dtype}")
    if index.dtype != np.int64:
        frame = frame.set_axis(index.astype(np.int64), axis=0)
        index = frame.index
    if len(index):
        steps = index.to_numpy()
        if steps[0] < 0:
            raise ValueError(f"{label}: steps must be >= 0, got step {int(steps[0])}")
        bad = np.diff(steps) <= 0
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{label}: steps must be sorted and unique, got step {int(steps[i + 1])} after step "
                f"{int(steps[i])} (Trajectory.from_wide sorts and keeps the last row of a duplicate)"
            )
    names = [c for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{label}: series names must be unique, got {names}")
    for name in names:
        check_series_name(name, source=label)
        dtype = frame[name].dtype
        if dtype != np.float64:
            raise TypeError(
                f"{label}: series {name!r} must be float64, got dtype {dtype} "
                "(Trajectory.from_wide converts and checks raw values)"
            )
        inf = np.isinf(frame[name].to_numpy())
        if inf.any():
            step = int(index[int(np.argmax(inf))])
            raise ValueError(f"{label}: series {name!r} has a non-finite value at step {step}")
    return frame


def _check_metrics(metrics: Any, label: str) -> pd.DataFrame:
    """A metrics frame: int64 ``step`` index (sorted, unique), float64 columns, no inf."""
    if not isinstance(metrics, pd.DataFrame):
        raise TypeError(f"{label}: metrics must be a pandas DataFrame or None, got {describe(metrics)}")
    index = metrics.index
    if index.name != STEP or not pd.api.types.is_integer_dtype(index.dtype):
        raise ValueError(f"{label}: the metrics frame must have an integer index named 'step', got {index.name!r} ({index.dtype})")
    if len(index) and (np.diff(index.to_numpy()) <= 0).any():
        raise ValueError(f"{label}: the metrics steps must be sorted and unique")
    for name in metrics.columns:
        if not isinstance(name, str) or metrics[name].dtype != np.float64:
            raise TypeError(f"{label}: metric {name!r} must be a float64 column named by a string")
        if np.isinf(metrics[name].to_numpy()).any():
            raise ValueError(f"{label}: metric {name!r} has a non-finite value")
    return metrics


def _long_series_name(key: Any, group: Any, label: str, where: str) -> str:
    if not isinstance(key, str):
        raise ValueError(f"{label}: column 'key' must hold strings, got {key!r} at {where}")
    try:
        check_key_name(key)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc} (at {where})") from None
    if isinstance(group, (int, np.integer)) and not isinstance(group, bool):
        group = f"g{int(group)}"
    if not isinstance(group, str) or not group:
        raise ValueError(f"{label}: column 'group' must hold group labels, got {group!r} at {where}")
    name = series_name(key, group)
    try:
        return check_series_name(name, source=label)
    except ValueError as exc:
        raise ValueError(f"{exc} (at {where})") from None
