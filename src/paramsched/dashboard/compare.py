"""Compare several runs: load them, build the comparison model, hand it to a renderer.

``compare(sources, out)`` takes any mix of replay sources (CSV run dirs,
``mlflow://RUN_ID``, W&B runs, foreign logs, DataFrames, Trajectory objects)
and builds a :class:`~paramsched.dashboard.model.Comparison`: per-series
summaries and first divergences from the reference run over every recorded
step, each run's *planned* values rebuilt from the schedule specs in its
metadata (``paramsched.replay.rebuild``, which never imports a function a
log names), the training metrics asked for, the runs' events, and the
families of branched runs. ``html.py`` and ``png.py`` draw it.

>>> import paramsched as ps
>>> ps.dashboard.compare(["runs/baseline", "runs/ablation"], out="compare.html",
...                      metrics=["loss"])  # doctest: +SKIP
PosixPath('compare.html')
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paramsched._progress import progress as _progress
from paramsched.checks import check_choice, check_positive_int, describe
from paramsched.dashboard.downsample import DEFAULT_MAX_POINTS
from paramsched.dashboard.lineage import find_families
from paramsched.dashboard.model import (
    BY_CHOICES,
    Comparison,
    MetricData,
    RunData,
    SeriesData,
    apply_styles,
    mark_identical,
)
from paramsched.dashboard.summary import Divergence, first_divergence, summarize
from paramsched.naming import parse_series_name

__all__ = [
    "Comparison", "RunData", "SeriesData", "build_comparison", "check_outputs", "compare", "load_source",
    "write",
]

HTML_SUFFIXES = (".html", ".htm")
PNG_SUFFIXES = (".png",)


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
    metrics: Sequence[str] = (),
    lineage: bool | None = None,
    trust_functions: bool | Collection[str] = False,
) -> Path:
    """Write a comparison of the runs in ``sources`` to ``out`` and return its path.

    ``sources`` is a list of anything ``paramsched.replay.load`` accepts, or a
    mapping ``{run name: source}`` to choose the names. ``out`` is an ``.html``
    file (a ``.png`` name writes the matplotlib version instead); ``png``
    writes the PNG as well. ``by`` picks the initial x axis (``"step"`` or
    ``"fraction"`` of the run; the page has a toggle). ``reference`` (index or
    run name) is the run the others are compared with. ``keymap``
    (``"lightning"``, ``"hf"`` or a mapping) reads the foreign logs among the
    sources; runs in paramsched's own format are read as they are (see
    :func:`load_source`). ``max_points`` caps the points drawn per line (the
    table uses every step).

    ``metrics`` names training metrics the runs logged (``["loss",
    "val_loss"]``): each gets a panel under the hyperparameters, and a
    "final value vs branch step" panel in the lineage view. ``lineage``:
    ``None`` draws the lineage view when some runs are branches of another
    compared run, ``True`` requires one, ``False`` never draws it.
    ``trust_functions`` is passed to ``replay.rebuild`` for the planned
    curves: by default a ``FunctionSchedule`` named in a log is never
    imported, and its planned curve is listed as unavailable in the notes.
    """
    out_path, png_path = check_outputs(out, png)
    check_choice("by", by, BY_CHOICES)
    check_positive_int("max_points", max_points, minimum=4)
    comparison = build_comparison(
        sources, reference=reference, keymap=keymap, title=title, progress=progress,
        metrics=metrics, lineage=lineage, trust_functions=trust_functions,
    )
    write(comparison, out_path, png=png_path, by=by, max_points=max_points)
    return out_path


def write(
    comparison: Comparison,
    out: str | os.PathLike[str],
    *,
    png: str | os.PathLike[str] | None = None,
    by: str = "step",
    max_points: int = DEFAULT_MAX_POINTS,
) -> list[Path]:
    """Draw a built comparison to ``out`` (``.html``, or ``.png``) and ``png``; the paths written."""
    out_path, png_path = check_outputs(out, png)
    check_choice("by", by, BY_CHOICES)
    check_positive_int("max_points", max_points, minimum=4)
    from paramsched.dashboard.png import write_png

    if out_path.suffix.lower() in PNG_SUFFIXES:
        written = [write_png(comparison, out_path, by=by)]
    else:
        from paramsched.dashboard.html import write_html

        written = [write_html(comparison, out_path, by=by, max_points=max_points)]
    if png_path is not None:
        written.append(write_png(comparison, png_path, by=by))
    return written


def check_outputs(
    out: str | os.PathLike[str],
    png: str | os.PathLike[str] | None = None,
    *,
    names: tuple[str, str] = ("out", "png"),
) -> tuple[Path, Path | None]:
    """``out`` (an ``.html``/``.htm``/``.png`` name) and ``png`` (a ``.png`` name) as paths.

    Checked before any run is loaded: ``out.pdf`` is refused, never written as
    HTML. ``names`` are the argument names errors use (the CLI's flags).
    """
    out_path = _check_out(names[0], out, HTML_SUFFIXES + PNG_SUFFIXES)
    png_path = _check_out(names[1], png, PNG_SUFFIXES) if png is not None else None
    return out_path, png_path


def build_comparison(
    sources: Sequence[Any] | Mapping[str, Any],
    *,
    reference: int | str = 0,
    keymap: Any = None,
    title: str | None = None,
    progress: bool | None = None,
    metrics: Sequence[str] = (),
    lineage: bool | None = None,
    trust_functions: bool | Collection[str] = False,
) -> Comparison:
    """Load ``sources`` and compute everything the dashboard shows (no drawing)."""
    named = _named_sources(sources)
    metric_names = _metric_names(metrics)
    if lineage is not None and not isinstance(lineage, bool):
        raise TypeError(f"lineage must be True, False or None, got lineage={describe(lineage)}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got title={describe(title)}")
    notes: list[str] = []
    runs: list[RunData] = []
    fingerprints: dict[int, str | None] = {}
    logged: list[list[str]] = []  # per run, every metric its log holds (for error messages)
    bar = (None if len(named) > 1 else False) if progress is None else progress
    for index, (name, source) in enumerate(_progress(named, desc="loading runs", unit="run", enabled=bar)):
        trajectory = load_source(source, keymap)
        run = _run_data(name, index, source, trajectory)
        notes.extend(f"{run.name}: {note}" for note in trajectory.notes)
        if run.metadata:
            fingerprints[index] = _attach_planned(run, trajectory, notes, trust_functions)
        logged.append(_attach_metrics(run, trajectory, metric_names))
        runs.append(run)
    _dedupe_names(runs)
    ref = _reference_index(reference, runs)
    runs[ref].is_reference = True
    _attach_divergences(runs, ref)
    keys = list(dict.fromkeys(key for run in runs for key in run.keys()))
    if not keys:
        raise ValueError(
            "sources hold no hyperparameter series (columns named hp/<key>/<group>), got "
            + ", ".join(f"{run.name!r} with columns {list(run.series)}" for run in runs)
        )
    _check_metrics_found(runs, metric_names, logged, notes)
    families = []
    if lineage is not False:
        families, lineage_notes = find_families(
            runs, {run.name: fingerprints.get(i) for i, run in enumerate(runs)}
        )
        notes.extend(lineage_notes)
        if lineage and not families:
            raise ValueError(
                "lineage=True but no compared run is a branch of another compared run "
                "(a branch's metadata names its parent under 'parent'); branches: "
                + (", ".join(run.name for run in runs if run.lineage) or "none")
            )
    if title is None:
        title = "paramsched: " + " vs ".join(run.name for run in runs)
    comparison = Comparison(
        runs=runs, keys=keys, reference=ref, title=title, notes=notes,
        metrics=metric_names, families=families,
    )
    apply_styles(comparison)
    mark_identical(comparison)
    return comparison


# -- arguments ---------------------------------------------------------------------


def _check_out(name: str, value: Any, suffixes: tuple[str, ...]) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {name}={describe(value)}")
    path = Path(value)
    if path.suffix.lower() not in suffixes:
        got = f"{name} {os.fspath(value)}" if name.startswith("-") else f"{name}={os.fspath(value)!r}"
        raise ValueError(f"{name} must be a file name ending in {' or '.join(suffixes)}, got {got}")
    return path


def _metric_names(metrics: Any) -> list[str]:
    if isinstance(metrics, str) or not isinstance(metrics, Iterable):
        raise TypeError(
            f"metrics must be a list of metric names such as ['loss'], got metrics={describe(metrics)}"
        )
    names = list(metrics)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"metrics must hold non-empty strings, got {describe(name)} in metrics={names!r}")
    return list(dict.fromkeys(names))


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


# -- loading -----------------------------------------------------------------------


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


def _present(steps: np.ndarray, column: Any) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(column, dtype=np.float64)
    keep = ~np.isnan(values)
    return steps[keep], values[keep]


def _run_data(name: str | None, index: int, source: Any, trajectory: Any) -> RunData:
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
        steps, values = _present(steps_all, frame[column])
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
    return RunData(
        name=run_name,
        source=str(getattr(trajectory, "source", "") or (source if isinstance(source, str) else "")),
        metadata=metadata,
        total_steps=int(total),
        total_from_metadata=from_metadata,
        series=series,
        events=[dict(event) for event in getattr(trajectory, "events", ())],
        lineage=getattr(trajectory, "lineage", None),
    )


def _dedupe_names(runs: list[RunData]) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name} ({count + 1})"


def _attach_divergences(runs: list[RunData], ref: int) -> None:
    base_run = runs[ref]
    for position, run in enumerate(runs):
        if position == ref:
            continue
        for series in run.series.values():
            base = base_run.series.get(series.name)
            if base is None:
                series.divergence = Divergence(None, "no_series")
                continue
            base_steps, base_values = base.steps, base.values
            if run.lineage is not None:
                # a branch records from its branch step to its own end: compare it over those steps
                keep = (base_steps >= series.steps[0]) & (base_steps <= series.steps[-1])
                base_steps, base_values = base_steps[keep], base_values[keep]
            series.divergence = first_divergence(base_steps, base_values, series.steps, series.values)


# -- metrics -----------------------------------------------------------------------


def _attach_metrics(run: RunData, trajectory: Any, names: list[str]) -> list[str]:
    """Attach the metrics named ``names`` that the run logged; returns every metric it logged."""
    table = getattr(trajectory, "metrics", None)
    if table is None:
        return []
    steps_all = np.asarray(table.index, dtype=np.int64)
    for name in names:
        if name in table.columns:
            steps, values = _present(steps_all, table[name])
            if steps.size:
                run.metrics[name] = MetricData(name, steps, values)
    return [str(c) for c in table.columns]


def _check_metrics_found(
    runs: list[RunData], names: list[str], logged: list[list[str]], notes: list[str]
) -> None:
    for name in names:
        if not any(name in run.metrics for run in runs):
            offered = "; ".join(
                f"{run.name}: {', '.join(columns) if columns else 'none'}"
                for run, columns in zip(runs, logged, strict=True)
            )
            raise ValueError(f"metrics: no run logged a metric named {name!r}; the runs logged: {offered}")
        for run in runs:
            if name not in run.metrics:
                notes.append(f"{run.name}: no {name!r} metric logged")


# -- planned values --------------------------------------------------------------


def _attach_planned(
    run: RunData, trajectory: Any, notes: list[str], trust_functions: bool | Collection[str]
) -> str | None:
    """The planned value of each series at each recorded step, from the specs in the metadata.

    The run's schedules are rebuilt with ``paramsched.replay.rebuild`` (never
    importing a function the log names unless ``trust_functions`` says so)
    and evaluated as ``ParamScheduler`` applies them. A series replayed from
    another run (a ``ReplaySchedule`` spec) is marked as replayed: its plan is
    that run's log. A series whose schedule cannot be rebuilt gets a note
    saying why; the others keep their planned curves. Returns the fingerprint
    of the rebuilt schedules (``None`` when some could not be rebuilt), which
    finds a branch's parent when nothing else names it.
    """
    from paramsched import _plan
    from paramsched.replay.rebuild import rebuild

    try:
        rebuilt = rebuild(trajectory, check=False, strict=False, trust_functions=trust_functions)
    except ValueError as exc:
        notes.append(f"{run.name}: no planned curves: {exc}")
        return None
    metadata = run.metadata or {}
    specs = metadata.get("schedules") if isinstance(metadata.get("schedules"), Mapping) else {}
    overrides = metadata.get("overrides") if isinstance(metadata.get("overrides"), Mapping) else {}
    for series in run.series.values():
        spec = (overrides.get(series.group) or {}).get(series.key, specs.get(series.key))
        if isinstance(spec, Mapping) and spec.get("type") == "ReplaySchedule":
            series.replayed = True
        if series.name in rebuilt.unavailable:
            if not (isinstance(spec, Mapping) and spec.get("compact")):
                notes.append(
                    f"{run.name}: planned curve of {series.name} unavailable "
                    f"({rebuilt.unavailable[series.name]})"
                )
            continue
        if not any(entry.series == series.name for entry in rebuilt.plan):
            continue  # the metadata does not schedule this series: nothing planned to show
        try:
            series.planned = rebuilt.planned(series.name, series.steps)
        except Exception as exc:  # noqa: BLE001 - a schedule failing on this run must not stop the page
            notes.append(f"{run.name}: no planned curve for {series.name}: {type(exc).__name__}: {exc}")
    if rebuilt.unavailable or not rebuilt.plan:
        return None
    return _plan.fingerprint(rebuilt.plan)
