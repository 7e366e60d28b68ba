"""The self-contained HTML page of a comparison (plotly with its JavaScript inlined).

The page is ``dashboards/compare.html`` filled in: plotly.js itself, the
figure as JSON, the summary tables and a small script that draws the figure
and toggles the x axis between steps and fraction of the run. Nothing is
fetched at view time.

Every run, group and key name is escaped twice over: ``html.escape`` for the
HTML and for the strings plotly renders (plotly reads tags in trace names),
and ``<``, ``>``, ``&`` as ``\\u003c``-style escapes in the JSON embedded in
``<script>``, so a run named ``<script>alert(1)</script>`` shows as text.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from paramsched.dashboard.assets import read_text, require
from paramsched.dashboard.compare import Comparison, RunData, SeriesData
from paramsched.dashboard.downsample import DEFAULT_MAX_POINTS, keep_indices

TEMPLATE = "compare.html"
PANEL_HEIGHT = 300
# Colour per (run, group) line; the same pair has the same colour in every panel.
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#e6550d",
    "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1", "#636363",
)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def write_html(
    comparison: Comparison,
    out: str | os.PathLike[str],
    *,
    by: str = "step",
    max_points: int = DEFAULT_MAX_POINTS,
) -> Path:
    """Write the comparison page to ``out`` (parent folders are created)."""
    path = Path(out)
    text = render_html(comparison, by=by, max_points=max_points)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def render_html(comparison: Comparison, *, by: str = "step", max_points: int = DEFAULT_MAX_POINTS) -> str:
    """The full HTML text of the comparison page."""
    plotly = require("plotly", "the HTML dashboard")
    get_plotlyjs = require("plotly.offline", "the HTML dashboard").get_plotlyjs

    figure = figure_dict(comparison, by=by, max_points=max_points)
    config = {
        "by": by,
        "axes": [name for name in figure["layout"] if re.fullmatch(r"xaxis\d*", name)],
        "title_axis": _axis_name("x", len(comparison.keys)),
        "titles": {"step": "step", "fraction": "fraction of run"},
    }
    plotly_js = get_plotlyjs()
    # plotly.js never contains a closing script tag today; make sure it never will.
    plotly_js = re.sub(r"</(script)", r"<\\/\1", plotly_js, flags=re.IGNORECASE)
    reference = comparison.reference_run.name
    values = {
        "title": html.escape(comparison.title),
        "subtitle": html.escape(
            f"{len(comparison.runs)} run(s), {len(comparison.keys)} hyperparameter(s); "
            f"reference run: {reference}"
        ),
        "plotly_js": plotly_js,
        "plotly_version": html.escape(plotly.__version__),
        "figure_json": script_json(figure),
        "config_json": script_json(config),
        "summary": summary_html(comparison),
        "notes": notes_html(comparison.notes),
        "step_pressed": "true" if by == "step" else "false",
        "fraction_pressed": "true" if by == "fraction" else "false",
    }
    return _fill(read_text(TEMPLATE), values)


def script_json(obj: Any) -> str:
    """JSON safe to embed in ``<script type="application/json">``: no ``<``, ``>``, ``&``.

    >>> script_json({"name": "</script><script>alert(1)</script>"})
    '{"name":"\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_json_default)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the page: {value!r}")


def _fill(template: str, values: dict[str, str]) -> str:
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise ValueError(f"the dashboard template has placeholders nobody fills: {missing}")
    # One pass: text put in is never scanned again for placeholders.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _axis_name(letter: str, row: int) -> str:
    return f"{letter}axis" if row == 1 else f"{letter}axis{row}"


# -- figure ------------------------------------------------------------------------


def figure_dict(comparison: Comparison, *, by: str = "step", max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """The plotly figure (data + layout) as plain JSON-able dicts.

    One panel (row) per key. In each panel, in drawing order, run by run
    (the reference first): the planned curve of each series whose planned
    values differ from the applied ones (dashed), then the applied line of
    each group; last, one marker trace per non-reference run holding its
    first divergence of each series. Every trace carries ``meta = {"key",
    "kind", "run", "total", ...}`` and its steps in ``customdata`` (the x
    toggle and the tests read them).
    """
    make_subplots = require("plotly.subplots", "the HTML dashboard").make_subplots

    keys = comparison.keys
    rows = len(keys)
    spacing = min(0.08, 0.3 / rows) if rows > 1 else 0.0
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=spacing,
        subplot_titles=[html.escape(key) for key in keys],
    )
    colours = _colours(comparison)
    reference = comparison.reference_run.name
    for row, key in enumerate(keys, start=1):
        legend = "legend" if row == 1 else f"legend{row}"
        traces: list[dict[str, Any]] = []
        # The reference run first and wider, so identical lines of other runs show on top
        # of it; each run's planned curves just under its own applied lines.
        for run in sorted(comparison.runs, key=lambda r: not r.is_reference):
            mine = [series for series in _ordered_series(run, keys) if series.key == key]
            traces.extend(_planned_trace(run, s, colours, by, max_points) for s in mine if s.planned_differs)
            traces.extend(_applied_trace(run, s, colours, by, max_points) for s in mine)
        for run in comparison.runs:
            marker = _divergence_trace(run, key, colours, by, reference)
            if marker is not None:
                traces.append(marker)
        for trace in traces:
            trace["legend"] = legend
            fig.add_trace(trace, row=row, col=1)
        domain = fig.layout[_axis_name("y", row)].domain
        fig.layout[legend] = {
            "y": domain[1], "yanchor": "top", "x": 1.01, "xanchor": "left",
            "font": {"size": 11}, "tracegroupgap": 2,
        }
        fig.layout[_axis_name("y", row)].title = {"text": html.escape(key)}
        fig.layout[_axis_name("y", row)].exponentformat = "e"
    fig.layout[_axis_name("x", rows)].title = {"text": "step" if by == "step" else "fraction of run"}
    fig.update_layout(
        template="plotly_white",
        height=PANEL_HEIGHT * rows + 120,
        margin={"l": 80, "r": 300, "t": 50, "b": 60},
        hovermode="closest",
    )
    return fig.to_plotly_json()


def _ordered_series(run: RunData, keys: list[str]) -> list[SeriesData]:
    """The run's series by panel order, then by the run's group order."""
    groups = list(dict.fromkeys(series.group for series in run.series.values()))
    return sorted(run.series.values(), key=lambda s: (keys.index(s.key), groups.index(s.group)))


def _colours(comparison: Comparison) -> dict[tuple[str, str], str]:
    pairs: list[tuple[str, str]] = []
    for run in comparison.runs:
        for series in run.series.values():
            if (run.name, series.group) not in pairs:
                pairs.append((run.name, series.group))
    return {pair: PALETTE[i % len(PALETTE)] for i, pair in enumerate(pairs)}


def _x(steps: np.ndarray, total: int, by: str) -> list[float] | list[int]:
    if by == "fraction":
        return (steps / total).tolist()
    return steps.tolist()


def _label(run: RunData, series: SeriesData) -> str:
    return html.escape(f"{run.name} · {series.group}")


def _applied_trace(
    run: RunData, series: SeriesData, colours: dict[tuple[str, str], str], by: str, max_points: int
) -> dict[str, Any]:
    extra = []
    if series.divergence is not None and series.divergence.step is not None:
        extra.append(int(np.searchsorted(series.steps, series.divergence.step)))
    keep = keep_indices(series.values, max_points, extra=extra)
    steps = series.steps[keep]
    return {
        "type": "scatter",
        "mode": "lines",
        "name": _label(run, series),
        "x": _x(steps, run.total_steps, by),
        "y": series.values[keep].tolist(),
        "customdata": steps.tolist(),
        "line": {"color": colours[(run.name, series.group)], "width": 4.5 if run.is_reference else 2},
        "hovertemplate": "<b>%{fullData.name}</b><br>step %{customdata}<br>%{y:.6g}<extra></extra>",
        "meta": {
            "key": series.key, "kind": "applied", "run": run.name, "group": series.group,
            "series": series.name, "total": run.total_steps, "points": int(series.steps.size),
        },
    }


def _planned_trace(
    run: RunData, series: SeriesData, colours: dict[tuple[str, str], str], by: str, max_points: int
) -> dict[str, Any]:
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
    steps = series.steps[keep]
    return {
        "type": "scatter",
        "mode": "lines",
        "name": html.escape(f"{run.name} · {series.group} (planned)"),
        "x": _x(steps, run.total_steps, by),
        "y": y,
        "customdata": steps.tolist(),
        "connectgaps": False,
        "line": {"color": colours[(run.name, series.group)], "width": 1.5, "dash": "dash"},
        "opacity": 0.85,
        "hovertemplate": "<b>%{fullData.name}</b><br>step %{customdata}<br>%{y:.6g}<extra></extra>",
        "meta": {
            "key": series.key, "kind": "planned", "run": run.name, "group": series.group,
            "series": series.name, "total": run.total_steps,
        },
    }


def _divergence_trace(
    run: RunData, key: str, colours: dict[tuple[str, str], str], by: str, reference: str
) -> dict[str, Any] | None:
    if run.is_reference:
        return None
    steps, ys, texts, colour_list = [], [], [], []
    for series in run.series.values():
        d = series.divergence
        if series.key != key or d is None or d.step is None:
            continue
        value = d.value if d.value is not None else d.reference_value
        steps.append(d.step)
        ys.append(value)
        texts.append(html.escape(f"{run.name} · {series.group}: first differs from {reference} at " + d.describe(run.name, reference)))
        colour_list.append(colours[(run.name, series.group)])
    if not steps:
        return None
    step_array = np.asarray(steps, dtype=np.int64)
    return {
        "type": "scatter",
        "mode": "markers",
        "name": html.escape(f"{run.name}: first divergence"),
        "x": _x(step_array, run.total_steps, by),
        "y": ys,
        "customdata": steps,
        "text": texts,
        "marker": {"symbol": "x", "size": 12, "color": colour_list, "line": {"width": 1, "color": "#222"}},
        "hovertemplate": "%{text}<extra></extra>",
        "meta": {"key": key, "kind": "divergence", "run": run.name, "total": run.total_steps},
    }


# -- tables ----------------------------------------------------------------------------


def _number(value: float | int | None) -> str:
    if value is None:
        return '<td class="none">—</td>'
    if isinstance(value, float):
        return f'<td data-value="{html.escape(repr(value))}">{html.escape(format(value, ".6g"))}</td>'
    return f'<td data-value="{value}">{value}</td>'


def summary_html(comparison: Comparison) -> str:
    """One table per run: a row per series with the summary numbers and first difference."""
    reference = comparison.reference_run.name
    parts = []
    for index, run in enumerate(comparison.runs):
        name = html.escape(run.name)
        badge = ' <span class="badge">reference</span>' if run.is_reference else ""
        total_note = "from metadata" if run.total_from_metadata else "recorded"
        meta = run.metadata or {}
        details = [f"source: {run.source or '(in memory)'}", f"total steps: {run.total_steps} ({total_note})"]
        if meta.get("optimizer"):
            details.append(f"optimizer: {meta['optimizer']}")
        if meta.get("resumed_from_step") is not None:
            details.append(f"resumed from step {meta['resumed_from_step']}")
        rows = []
        for series in _ordered_series(run, comparison.keys):
            s = series.summary
            if run.is_reference:
                diff = '<td class="reference">reference</td>'
            elif series.divergence is None:
                diff = '<td class="same">identical</td>'
            else:
                step = series.divergence.step
                attr = f' data-step="{step}"' if step is not None else ""
                diff = f'<td class="differs"{attr}>{html.escape(series.divergence.describe(run.name, reference))}</td>'
            planned = ""
            if series.replayed:
                planned += ' <span class="badge" title="scheduled by replaying another run\'s log">replayed</span>'
            if series.planned_differs:
                planned += ' <span class="badge planned" title="applied values differ from the logged spec">≠ plan</span>'
            rows.append(
                f'<tr data-series="{html.escape(series.name)}"><td class="series">'
                f"{html.escape(series.name)}{planned}</td>"
                f"{_number(run.total_steps)}{_number(s.steps)}{_number(s.warmup)}{_number(s.peak)}"
                f"{_number(s.peak_step)}{_number(s.final)}{_number(s.decay_start)}{diff}</tr>"
            )
        parts.append(
            f'<section class="run" data-run-index="{index}">'
            f'<h3><span class="run-name">{name}</span>{badge}</h3>'
            f'<p class="details">{html.escape(" · ".join(details))}</p>'
            f'<table class="summary" data-run-index="{index}"><thead><tr>'
            "<th>series</th><th>total steps</th><th>recorded steps</th><th>warmup (steps)</th>"
            "<th>peak</th><th>peak step</th><th>final</th><th>decay start</th>"
            f"<th>first difference from {html.escape(reference)}</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
        )
    return "\n".join(parts)


def notes_html(notes: list[str]) -> str:
    """The notes (e.g. planned curves that could not be rebuilt) as a list, or nothing."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"<h2>Notes</h2><ul>{items}</ul>"
