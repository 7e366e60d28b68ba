"""Compare the schedules of several runs: load them, line them up, write HTML and PNG.

``compare(sources, out)`` takes any mix of replay sources (CSV run dirs,
``mlflow://RUN_ID``, W&B runs, DataFrames, Trajectory objects), computes
per-series summaries and first divergences from the reference run over every
recorded step, rebuilds each run's *planned* values from the schedule specs
in its metadata, and writes one self-contained HTML page (and a PNG with
``png=``).

>>> import paramsched as ps
>>> ps.dashboard.compare(["runs/baseline", "runs/ablation"], out="compare.html")  # doctest: +SKIP
PosixPath('compare.html')
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paramsched.checks import check_choice, check_positive_int, describe
from paramsched.dashboard.downsample import DEFAULT_MAX_POINTS
from paramsched.dashboard.summary import Divergence, SeriesSummary, first_divergence, summarize
from paramsched.naming import parse_series_name

BY_CHOICES = ("step", "fraction")


@dataclasses.dataclass
class SeriesData:
    """One recorded series of one run, with everything the dashboard shows about it."""

    name: str
    key: str
    group: str
    steps: np.ndarray
    values: np.ndarray
    summary: SeriesSummary
    planned: np.ndarray | None = None  # planned values at ``steps``, when the spec is known
    replayed: bool = False  # scheduled by a ReplaySchedule (values replayed from another run)
    divergence: Divergence | None = None  # first difference from the reference run

    @property
    def planned_differs(self) -> bool:
        return self.planned is not None and bool(np.any(self.planned != self.values))


@dataclasses.dataclass
class RunData:
    """One run: its name, where it came from and its series (in recorded column order)."""

    name: str
    source: str
    metadata: dict[str, Any] | None
    total_steps: int
    total_from_metadata: bool
    series: dict[str, SeriesData]
    is_reference: bool = False

    def keys(self) -> list[str]:
        return list(dict.fromkeys(s.key for s in self.series.values()))


@dataclasses.dataclass
class Comparison:
    """Runs lined up for drawing: ``keys`` is the panel order, ``runs[reference]`` the reference."""

    runs: list[RunData]
    keys: list[str]
    reference: int
    title: str
    notes: list[str]

    @property
    def reference_run(self) -> RunData:
        return self.runs[self.reference]


def compare(
    sources: Sequence[Any] | Mapping[str, Any],
    out: str | os.PathLike[str] = "compare.html",
    *,
    by: str = "step",
    reference: int | str = 0,
    png: str | os.PathLike[str] | None = None,
    keymap: Any = None,
    title: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    progress: bool | None = None,
) -> Path:
    """Write a comparison of the runs in ``sources`` to ``out`` and return its path.

    ``sources`` is a list of anything ``paramsched.replay.load`` accepts, or a
    mapping ``{run name: source}`` to choose the names. ``out`` is an HTML file
    (a ``.png`` name writes the matplotlib version instead); ``png`` writes the
    PNG as well. ``by`` picks the initial x axis (``"step"`` or ``"fraction"``
    of the run; the page has a toggle). ``reference`` (index or run name) is
    the run the others are compared with. ``keymap`` (``"lightning"``,
    ``"hf"`` or a mapping) reads the foreign logs among the sources; runs in
    paramsched's own format are read as they are (see :func:`load_source`).
    ``max_points`` caps the points drawn per line (the table uses every step).
    """
    check_choice("by", by, BY_CHOICES)
    check_positive_int("max_points", max_points, minimum=4)
    out_path = _check_out("out", out)
    png_path = _check_out("png", png) if png is not None else None
    comparison = build_comparison(
        sources, reference=reference, keymap=keymap, title=title, progress=progress
    )
    if out_path.suffix.lower() == ".png":
        from paramsched.dashboard.png import write_png

        write_png(comparison, out_path, by=by)
    else:
        from paramsched.dashboard.html import write_html

        write_html(comparison, out_path, by=by, max_points=max_points)
    if png_path is not None:
        from paramsched.dashboard.png import write_png

        write_png(comparison, png_path, by=by)
    return out_path


def build_comparison(
    sources: Sequence[Any] | Mapping[str, Any],
    *,
    reference: int | str = 0,
    keymap: Any = None,
    title: str | None = None,
    progress: bool | None = None,
) -> Comparison:
    """Load ``sources`` and compute everything the dashboard shows (no drawing)."""
    named = _named_sources(sources)
    notes: list[str] = []
    runs: list[RunData] = []
    for index, (name, source) in enumerate(_progress(named, progress, "loading runs")):
        trajectory = load_source(source, keymap)
        runs.append(_run_data(name, index, source, trajectory, notes))
    _dedupe_names(runs)
    ref = _reference_index(reference, runs)
    runs[ref].is_reference = True
    for position, run in enumerate(runs):
        if position == ref:
            continue
        for series in run.series.values():
            base = runs[ref].series.get(series.name)
            if base is None:
                series.divergence = Divergence(None, "no_series")
            else:
                series.divergence = first_divergence(
                    base.steps, base.values, series.steps, series.values
                )
    keys = list(dict.fromkeys(key for run in runs for key in run.keys()))
    if not keys:
        raise ValueError(
            "sources hold no hyperparameter series (columns named hp/<key>/<group>), got "
            + ", ".join(f"{run.name!r} with columns {list(run.series)}" for run in runs)
        )
    if title is None:
        title = "paramsched: " + " vs ".join(run.name for run in runs)
    elif not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got title={describe(title)}")
    return Comparison(runs=runs, keys=keys, reference=ref, title=title, notes=notes)


# -- loading -----------------------------------------------------------------


def _check_out(name: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {name}={describe(value)}")
    return Path(value)


def _named_sources(sources: Any) -> list[tuple[str | None, Any]]:
    if isinstance(sources, Mapping):
        items = list(sources.items())
        for name, _ in items:
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"sources given as a mapping must map run names (non-empty str) to sources, "
                    f"got name={describe(name)}"
                )
        named: list[tuple[str | None, Any]] = list(items)
    elif isinstance(sources, (str, bytes, os.PathLike)) or _is_trajectory(sources):
        raise TypeError(
            "sources must be a list of runs (paths, URIs, Trajectory objects) or a mapping "
            f"{{name: source}}, got a single source sources={describe(sources)}; wrap it in a list"
        )
    elif isinstance(sources, Iterable):
        named = [(None, source) for source in sources]
    else:
        raise TypeError(
            f"sources must be a list of runs or a mapping {{name: source}}, got sources={describe(sources)}"
        )
    if not named:
        raise ValueError("sources must name at least one run, got an empty collection")
    return named


def _is_trajectory(obj: Any) -> bool:
    from paramsched.replay.trajectory import Trajectory

    return isinstance(obj, Trajectory)


def load_source(source: Any, keymap: Any = None) -> Any:
    """``replay.load(source)``; with a ``keymap``, it is used for the sources that need it.

    A source already in paramsched's naming (a recorded run, ``hp/<key>/<group>``
    columns) is read as it is, so paramsched runs and foreign logs (a Lightning
    ``metrics.csv``, a Hugging Face log) can be compared in one call: a source
    that cannot be read plainly is read again with ``keymap=``, and that
    attempt's error is the one raised.
    """
    if _is_trajectory(source):
        return source
    from paramsched import replay

    if keymap is None:
        return replay.load(source)
    try:
        return replay.load(source)
    except ValueError:
        return replay.load(source, keymap=keymap)


def _progress(items: list[Any], enabled: bool | None, desc: str) -> Iterable[Any]:
    if enabled is None:
        enabled = len(items) > 1 and sys.stderr.isatty()
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="run", leave=False)


def _default_name(source: Any, trajectory: Any, index: int) -> str:
    text = str(getattr(trajectory, "source", "") or "")
    if not text and isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
    if not text:
        return f"run {index}"
    if "://" in text:
        return text.split("?", 1)[0]  # mlflow://RUN_ID, without ?tracking_uri=...
    path = Path(text)
    if path.name == "values.csv" or path.suffix.lower() in {".csv", ".json", ".wandb"}:
        path = path.parent if path.name in {"values.csv", "run.json"} else path.with_suffix("")
    return path.name or text


def _run_data(
    name: str | None, index: int, source: Any, trajectory: Any, notes: list[str]
) -> RunData:
    frame = trajectory.frame
    metadata = trajectory.metadata if isinstance(trajectory.metadata, dict) else None
    run_name = name if name is not None else _default_name(source, trajectory, index)
    steps_all = np.asarray(frame.index, dtype=np.int64)
    series: dict[str, SeriesData] = {}
    for column in frame.columns:
        try:
            key, group = parse_series_name(str(column))
        except ValueError:
            continue  # hp/step and other non-series columns
        values = np.asarray(frame[column], dtype=np.float64)
        present = ~np.isnan(values)
        steps, values = steps_all[present], values[present]
        if steps.size == 0:
            continue
        series[str(column)] = SeriesData(
            name=str(column), key=key, group=group, steps=steps, values=values,
            summary=summarize(steps, values),
        )
    total = metadata.get("total_steps") if metadata else None
    from_metadata = isinstance(total, int) and not isinstance(total, bool) and total > 0
    if not from_metadata:
        total = int(steps_all[-1]) + 1 if steps_all.size else 1
    run = RunData(
        name=run_name,
        source=str(getattr(trajectory, "source", "") or (source if isinstance(source, str) else "")),
        metadata=metadata,
        total_steps=int(total),
        total_from_metadata=from_metadata,
        series=series,
    )
    if metadata:
        _attach_planned(run, trajectory, notes)
    return run


def _dedupe_names(runs: list[RunData]) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name} ({count + 1})"


def _reference_index(reference: Any, runs: list[RunData]) -> int:
    names = [run.name for run in runs]
    if isinstance(reference, bool) or not isinstance(reference, (int, str)):
        raise TypeError(f"reference must be a run index (int) or name (str), got reference={describe(reference)}")
    if isinstance(reference, int):
        if not 0 <= reference < len(runs):
            raise ValueError(
                f"reference must be a run index in 0..{len(runs) - 1}, got reference={reference}"
            )
        return reference
    if reference not in names:
        raise ValueError(f"reference must be one of the run names {names}, got reference={reference!r}")
    return names.index(reference)


# -- planned values --------------------------------------------------------------


def _attach_planned(run: RunData, trajectory: Any, notes: list[str]) -> None:
    """The planned value of each series at each recorded step, from the specs in the metadata.

    The run's schedules are rebuilt with ``paramsched.replay.rebuild`` (never
    importing a function the log names) and evaluated as ``ParamScheduler``
    applies them. A series replayed from another run (a ``ReplaySchedule``
    spec) is marked as replayed: its plan is that run's log. A series whose
    schedule cannot be rebuilt gets a note saying why; the others keep their
    planned curves.
    """
    from paramsched.replay.rebuild import rebuild

    try:
        rebuilt = rebuild(trajectory, check=False, strict=False)
    except ValueError as exc:
        notes.append(f"{run.name}: no planned curves: {exc}")
        return
    metadata = run.metadata or {}
    specs = metadata.get("schedules") if isinstance(metadata.get("schedules"), Mapping) else {}
    overrides = metadata.get("overrides") if isinstance(metadata.get("overrides"), Mapping) else {}
    for series in run.series.values():
        spec = (overrides.get(series.group) or {}).get(series.key, specs.get(series.key))
        if isinstance(spec, Mapping) and spec.get("type") == "ReplaySchedule":
            series.replayed = True
        if series.name in rebuilt.unavailable:
            if not (isinstance(spec, Mapping) and spec.get("compact")):
                notes.append(f"{run.name}: planned curve of {series.name} unavailable ({rebuilt.unavailable[series.name]})")
            continue
        if not any(entry.series == series.name for entry in rebuilt.plan):
            continue  # the metadata does not schedule this series: nothing planned to show
        try:
            series.planned = rebuilt.planned(series.name, series.steps)
        except Exception as exc:  # noqa: BLE001 - a schedule failing on this run must not stop the page
            notes.append(f"{run.name}: no planned curve for {series.name}: {type(exc).__name__}: {exc}")
