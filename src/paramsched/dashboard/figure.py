"""The plotly figure of a comparison: one row per panel of ``model.panels``, as JSON-able dicts.

Every trace carries ``meta = {"panel", "kind", "run", "total", ...}`` and
its steps in ``customdata``: the page's step / fraction toggle recomputes
``x`` from them (fraction = step / total), and the tests read them. Names
shown by plotly (trace names, hover text, tick labels) are HTML-escaped:
plotly renders them as markup.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from paramsched.dashboard.assets import require
from paramsched.dashboard.downsample import DEFAULT_MAX_POINTS, keep_indices
from paramsched.dashboard.model import (
    EVENT_SYMBOLS,
    PLANNED_DASH,
    Comparison,
    Family,
    Panel,
    RunData,
    SeriesData,
    branch_series,
    cooldown_segment,
    drawing_order,
    event_text,
    event_value,
    final_range,
    metric_label,
    metric_log_scale,
    ordered_series,
    panels,
    series_label,
)

PANEL_HEIGHT = 300  # px of a panel of relative height 1.0
_GAP = 70  # px between panels (room for the next panel's title)
_HOVER = "<b>%{fullData.name}</b><br>step %{customdata}<br>%{y:.6g}<extra></extra>"


def axis_name(letter: str, row: int) -> str:
    return f"{letter}axis" if row == 1 else f"{letter}axis{row}"


def plotly_dash(dash: tuple[int, ...]) -> str:
    """A model dash pattern as plotly writes it: ``"solid"`` or ``"9px,4px"``."""
    return "solid" if not dash else ",".join(f"{n}px" for n in dash)


def figure_dict(
    comparison: Comparison, *, by: str = "step", max_points: int = DEFAULT_MAX_POINTS
) -> dict[str, Any]:
    """The plotly figure (data + layout) as plain JSON-able dicts.

    Rows are ``model.panels(comparison)``. In a hyperparameter panel, run by
    run (the reference first, so the others' lines are drawn over it): the
    planned curve of each series whose planned values differ from the
    applied ones (dotted), then the applied line of each group; then one
    marker trace per run for its events on that key, and one per
    non-reference run holding its first divergence of each series.
    """
    make_subplots = require("plotly.subplots", "the HTML dashboard").make_subplots

    rows = panels(comparison)
    heights = [panel.height for panel in rows]
    plot_px = PANEL_HEIGHT * sum(heights)
    total_px = plot_px + _GAP * (len(rows) - 1)
    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, row_heights=heights,
        vertical_spacing=_GAP / total_px if len(rows) > 1 else 0.0,
        subplot_titles=[html.escape(panel.title) for panel in rows],
    )
    for row, panel in enumerate(rows, start=1):
        legend = "legend" if row == 1 else f"legend{row}"
        for trace in _panel_traces(comparison, panel, by, max_points):
            trace["legend"] = legend
            trace["meta"]["panel"] = panel.id
            fig.add_trace(trace, row=row, col=1)
        y_axis = fig.layout[axis_name("y", row)]
        fig.layout[legend] = {
            "y": y_axis.domain[1], "yanchor": "top", "x": 1.01, "xanchor": "left",
            "font": {"size": 11}, "tracegroupgap": 2,
        }
        y_axis.title = {"text": html.escape(panel.y_title)}
        if panel.kind == "events":
            _events_axis(comparison, y_axis)
        else:
            y_axis.exponentformat = "e"
        if panel.kind == "metric" and panel.metric is not None and metric_log_scale(comparison, panel.metric):
            y_axis.type = "log"
        if panel.kind == "final" and panel.family is not None and panel.metric is not None:
            y_range = final_range(panel.family, panel.metric)
            if y_range is not None:
                y_axis.range = list(y_range)
    fig.layout[axis_name("x", len(rows))].title = {"text": "step" if by == "step" else "fraction of run"}
    fig.update_layout(
        template="plotly_white",
        height=int(total_px) + 120,
        margin={"l": 80, "r": 320, "t": 50, "b": 60},
        hovermode="closest",
    )
    return fig.to_plotly_json()


def _panel_traces(comparison: Comparison, panel: Panel, by: str, max_points: int) -> list[dict[str, Any]]:
    if panel.kind == "hp":
        assert panel.key is not None
        return _hp_traces(comparison, panel.key, by, max_points)
    if panel.kind == "metric":
        assert panel.metric is not None
        return _metric_traces(comparison, panel.metric, by, max_points)
    if panel.kind == "lineage":
        assert panel.family is not None
        return _lineage_traces(panel.family, by, max_points)
    if panel.kind == "final":
        assert panel.family is not None and panel.metric is not None
        return _final_traces(panel.family, panel.metric, by, max_points)
    return _event_strip_traces(comparison, by)


def _x(steps: np.ndarray, total: int, by: str) -> list[float] | list[int]:
    if by == "fraction":
        return (np.asarray(steps, dtype=np.int64) / total).tolist()
    return np.asarray(steps, dtype=np.int64).tolist()


def _line(
    name: str, steps: np.ndarray, y: list[Any], total: int, by: str, colour: str, dash: str,
    width: float, meta: dict[str, Any],
) -> dict[str, Any]:
    return {
        "type": "scatter", "mode": "lines", "name": html.escape(name),
        "x": _x(steps, total, by), "y": y, "customdata": np.asarray(steps).tolist(),
        "line": {"color": colour, "width": width, "dash": dash},
        "hovertemplate": _HOVER, "meta": {**meta, "total": total},
    }


# -- hyperparameter panels ---------------------------------------------------------------------


def _hp_traces(comparison: Comparison, key: str, by: str, max_points: int) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    for run in drawing_order(comparison):
        mine = [s for s in ordered_series(run, comparison.keys) if s.key == key]
        traces.extend(_planned_trace(run, s, by, max_points) for s in mine if s.planned_differs)
        traces.extend(_applied_trace(run, s, by, max_points) for s in mine)
    for run in comparison.runs:
        marker = _event_marker_trace(run, key, by)
        if marker is not None:
            traces.append(marker)
    reference = comparison.reference_run.name
    for run in comparison.runs:
        marker = _divergence_trace(run, key, by, reference)
        if marker is not None:
            traces.append(marker)
    return traces


def _applied_trace(run: RunData, series: SeriesData, by: str, max_points: int) -> dict[str, Any]:
    extra = []
    if series.divergence is not None and series.divergence.step is not None:
        extra.append(int(np.searchsorted(series.steps, series.divergence.step)))
    keep = keep_indices(series.values, max_points, extra=extra)
    return _line(
        series_label(run, series), series.steps[keep], series.values[keep].tolist(), run.total_steps,
        by, series.colour, plotly_dash(run.dash), 4.5 if run.is_reference else 2.0,
        {"key": series.key, "kind": "applied", "run": run.name, "group": series.group,
         "series": series.name, "points": int(series.steps.size), "identical_to": series.identical_to},
    )


def _planned_trace(run: RunData, series: SeriesData, by: str, max_points: int) -> dict[str, Any]:
    assert series.planned is not None
    planned = series.planned
    differs = planned != series.values
    # Draw the planned curve where it differs, plus one point either side so a
    # single differing step still shows as a segment joined to the applied line.
    shown = differs.copy()
    shown[1:] |= differs[:-1]
    shown[:-1] |= differs[1:]
    edges = np.nonzero(np.diff(shown.astype(np.int8)))[0]
    whole = edges.size > max_points // 4
    extra = [] if whole else [*edges.tolist(), *(edges + 1).tolist()]
    keep = keep_indices(planned, max_points, extra=extra)
    y: list[float | None] = planned[keep].tolist()
    if not whole:
        y = [value if shown[i] else None for value, i in zip(y, keep.tolist(), strict=True)]
    trace = _line(
        f"{run.name} · {series.group} (planned)", series.steps[keep], y, run.total_steps, by,
        series.colour, plotly_dash(PLANNED_DASH), 1.5,
        {"key": series.key, "kind": "planned", "run": run.name, "group": series.group,
         "series": series.name},
    )
    trace["connectgaps"] = False
    trace["opacity"] = 0.85
    return trace


def _divergence_trace(run: RunData, key: str, by: str, reference: str) -> dict[str, Any] | None:
    if run.is_reference:
        return None
    steps, ys, texts, colours = [], [], [], []
    for series in run.series.values():
        d = series.divergence
        if series.key != key or d is None or d.step is None:
            continue
        steps.append(d.step)
        ys.append(d.value if d.value is not None else d.reference_value)
        texts.append(html.escape(
            f"{run.name} · {series.group}: first differs from {reference} at "
            + d.describe(run.name, reference)
        ))
        colours.append(series.colour)
    if not steps:
        return None
    return {
        "type": "scatter", "mode": "markers", "name": html.escape(f"{run.name}: first divergence"),
        "x": _x(np.asarray(steps), run.total_steps, by), "y": ys, "customdata": steps, "text": texts,
        "marker": {"symbol": "x", "size": 12, "color": colours, "line": {"width": 1, "color": "#222"}},
        "hovertemplate": "%{text}<extra></extra>",
        "meta": {"key": key, "kind": "divergence", "run": run.name, "total": run.total_steps},
    }


def _event_marker_trace(run: RunData, key: str, by: str) -> dict[str, Any] | None:
    """The run's events on series of ``key``, at the value they set."""
    steps, ys, texts, symbols = [], [], [], []
    for event in run.events:
        series = run.series.get(event.get("series") or "")
        if series is None or series.key != key:
            continue
        value = event_value(run, event)
        if value is None:
            continue
        steps.append(int(event["step"]))
        ys.append(value)
        texts.append(html.escape(event_text(run, event)))
        symbols.append(EVENT_SYMBOLS[event["kind"]])
    if not steps:
        return None
    return {
        "type": "scatter", "mode": "markers", "name": html.escape(f"{run.name}: events"),
        "x": _x(np.asarray(steps), run.total_steps, by), "y": ys, "customdata": steps, "text": texts,
        "marker": {"symbol": symbols, "size": 11, "color": run.colour, "line": {"width": 1, "color": "#222"}},
        "hovertemplate": "%{text}<extra></extra>",
        "meta": {"key": key, "kind": "event", "run": run.name, "total": run.total_steps},
    }


# -- metric panels ---------------------------------------------------------------------------------


def _metric_traces(comparison: Comparison, name: str, by: str, max_points: int) -> list[dict[str, Any]]:
    traces = []
    for run in drawing_order(comparison):
        metric = run.metrics.get(name)
        if metric is None:
            continue
        keep = keep_indices(metric.values, max_points)
        traces.append(_line(
            metric_label(run, metric), metric.steps[keep], metric.values[keep].tolist(), run.total_steps,
            by, run.colour, plotly_dash(run.dash), 3.0 if run.is_reference else 1.8,
            {"metric": name, "kind": "metric", "run": run.name, "points": int(metric.steps.size),
             "identical_to": metric.identical_to},
        ))
    return traces


# -- events strip ------------------------------------------------------------------------------------


def _event_rows(comparison: Comparison) -> list[RunData]:
    return [run for run in comparison.runs if run.events]


def _event_strip_traces(comparison: Comparison, by: str) -> list[dict[str, Any]]:
    traces = []
    for row, run in enumerate(_event_rows(comparison)):
        steps = [int(e["step"]) for e in run.events]
        traces.append({
            "type": "scatter", "mode": "markers", "name": html.escape(f"{run.name}: events"),
            "x": _x(np.asarray(steps), run.total_steps, by), "y": [row] * len(steps), "customdata": steps,
            "text": [html.escape(event_text(run, e)) for e in run.events],
            "marker": {"symbol": [EVENT_SYMBOLS[e["kind"]] for e in run.events], "size": 12,
                       "color": run.colour, "line": {"width": 1, "color": "#222"}},
            "hovertemplate": "%{text}<extra></extra>",
            "meta": {"kind": "event", "run": run.name, "total": run.total_steps,
                     "kinds": [e["kind"] for e in run.events]},
        })
    return traces


def _events_axis(comparison: Comparison, axis: Any) -> None:
    names = [run.name for run in _event_rows(comparison)]
    axis.tickmode = "array"
    axis.tickvals = list(range(len(names)))
    axis.ticktext = [html.escape(name) for name in names]
    axis.range = [-0.6, len(names) - 0.4]
    axis.fixedrange = True
    axis.showgrid = False
    axis.zeroline = False


# -- lineage -------------------------------------------------------------------------------------------


def _lineage_traces(family: Family, by: str, max_points: int) -> list[dict[str, Any]]:
    parent = family.parent
    total = parent.total_steps  # the whole view in the parent's steps, so the fan keeps its shape
    series = parent.series[family.series]
    keep = keep_indices(series.values, max_points)
    traces = [_line(
        f"{parent.name} (parent)", series.steps[keep], series.values[keep].tolist(), total, by,
        parent.colour, plotly_dash(parent.dash), 3.5,
        {"kind": "lineage-parent", "run": parent.name, "series": series.name},
    )]
    for branch in family.branches:
        child = branch.child
        segment = cooldown_segment(branch, family)
        if segment is None:
            continue
        steps, values = segment
        keep = keep_indices(values, max_points)
        detail = f"at step {branch.branch_step}"
        if branch.cooldown is not None:
            detail += f", cooldown {branch.cooldown}"
        if branch.shape:
            detail += f", {branch.shape}"
        traces.append(_line(
            f"{child.name} ({detail})", steps[keep], values[keep].tolist(), total, by, child.colour,
            plotly_dash(child.dash), 2.2,
            {"kind": "lineage-branch", "run": child.name, "series": branch_series(branch, family).name,
             "branch_step": branch.branch_step},
        ))
    return traces


def _final_traces(family: Family, name: str, by: str, max_points: int) -> list[dict[str, Any]]:
    parent = family.parent
    total = parent.total_steps
    traces = []
    metric = parent.metrics.get(name)
    if metric is not None:
        keep = keep_indices(metric.values, max_points)
        trace = _line(
            f"{parent.name} (parent) {name}", metric.steps[keep], metric.values[keep].tolist(), total,
            by, parent.colour, plotly_dash(parent.dash), 1.2,
            {"kind": "lineage-parent-metric", "run": parent.name, "metric": name},
        )
        trace["opacity"] = 0.6
        traces.append(trace)
    points = [(b, b.child.metrics[name].final) for b in family.branches if name in b.child.metrics]
    if points:
        steps = [b.branch_step for b, _ in points]
        texts = [
            html.escape(
                f"{b.child.name}: branched at step {b.branch_step}; final {name} {value:.6g} at step {step}"
            )
            for b, (step, value) in points
        ]
        traces.append({
            "type": "scatter", "mode": "lines+markers", "name": html.escape(f"final {name} of each branch"),
            "x": _x(np.asarray(steps), total, by), "y": [value for _, (_, value) in points],
            "customdata": steps, "text": texts,
            "line": {"color": "#555", "width": 1, "dash": "solid"},
            "marker": {"size": 13, "color": [b.child.colour for b, _ in points],
                       "line": {"width": 1, "color": "#222"}},
            "hovertemplate": "%{text}<extra></extra>",
            "meta": {"kind": "lineage-final", "run": parent.name, "metric": name, "total": total,
                     "children": [b.child.name for b, _ in points]},
        })
    return traces
