"""The self-contained HTML page of a comparison (plotly with its JavaScript inlined).

The page is ``dashboards/compare.html`` filled in: plotly.js itself, the
figure (``figure.py``) as JSON, the summary, lineage and event tables, the
notes, and a small script that draws the figure and toggles the x axis
between steps and fraction of the run. Nothing is fetched at view time.

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
from paramsched.dashboard.downsample import DEFAULT_MAX_POINTS
from paramsched.dashboard.figure import axis_name, figure_dict
from paramsched.dashboard.model import (
    SUMMARY_HEADER,
    Comparison,
    event_text,
    format_number,
    lineage_rows,
    summary_rows,
)

__all__ = ["figure_dict", "notes_html", "render_html", "script_json", "summary_html", "write_html"]

TEMPLATE = "compare.html"
MAX_EVENT_ROWS = 200  # per run in the events table; the figure shows them all
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
    rows = sum(1 for name in figure["layout"] if re.fullmatch(r"yaxis\d*", name))
    config = {
        "by": by,
        "axes": [name for name in figure["layout"] if re.fullmatch(r"xaxis\d*", name)],
        "title_axis": axis_name("x", rows),
        "titles": {"step": "step", "fraction": "fraction of run"},
    }
    plotly_js = get_plotlyjs()
    # plotly.js never contains a closing script tag today; make sure it never will.
    plotly_js = re.sub(r"</(script)", r"<\\/\1", plotly_js, flags=re.IGNORECASE)
    reference = comparison.reference_run.name
    parts = [f"{len(comparison.runs)} run(s)", f"{len(comparison.keys)} hyperparameter(s)"]
    if comparison.metrics:
        parts.append(f"metrics: {', '.join(comparison.metrics)}")
    if comparison.families:
        parts.append(f"{sum(len(f.branches) for f in comparison.families)} branch(es)")
    parts.append(f"reference run: {reference}")
    if comparison.notes:
        parts.append(f"{len(comparison.notes)} note(s) at the bottom of the page")
    values = {
        "title": html.escape(comparison.title),
        "subtitle": html.escape("; ".join(parts)),
        "plotly_js": plotly_js,
        "plotly_version": html.escape(plotly.__version__),
        "figure_json": script_json(figure),
        "config_json": script_json(config),
        "lineage": lineage_html(comparison),
        "summary": summary_html(comparison),
        "events": events_html(comparison),
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


# -- tables ----------------------------------------------------------------------------


def _number(value: float | int | None) -> str:
    if value is None:
        return '<td class="none">—</td>'
    if isinstance(value, float):
        return f'<td data-value="{html.escape(repr(value))}">{html.escape(format_number(value))}</td>'
    return f'<td data-value="{value}">{value}</td>'


def summary_html(comparison: Comparison) -> str:
    """One table per run: a row per series with the summary numbers and first difference."""
    reference = comparison.reference_run.name
    parts = []
    for index, run in enumerate(comparison.runs):
        name = html.escape(run.name)
        badge = ' <span class="badge">reference</span>' if run.is_reference else ""
        if run.lineage is not None:
            badge += ' <span class="badge">branch</span>'
        total_note = "from metadata" if run.total_from_metadata else "recorded"
        meta = run.metadata or {}
        details = [f"source: {run.source or '(in memory)'}", f"total steps: {run.total_steps} ({total_note})"]
        if meta.get("optimizer"):
            details.append(f"optimizer: {meta['optimizer']}")
        if meta.get("resumed_from_step") is not None:
            details.append(f"resumed from step {meta['resumed_from_step']}")
        if run.lineage is not None:
            details.append(f"branched at step {run.lineage.get('branch_step')} from {run.lineage.get('source')}")
        rows = []
        for row in summary_rows(comparison, run):
            series = row.series
            if row.status == "differs":
                attr = f' data-step="{row.divergence_step}"' if row.divergence_step is not None else ""
                diff = f'<td class="differs"{attr}>{html.escape(row.difference)}</td>'
            else:
                diff = f'<td class="{"reference" if row.status == "reference" else "same"}">{row.difference}</td>'
            badges = ""
            if series.replayed:
                badges += ' <span class="badge" title="scheduled by replaying another run\'s log">replayed</span>'
            if series.planned_differs:
                badges += ' <span class="badge planned" title="applied values differ from the logged spec">≠ plan</span>'
            if series.identical_to is not None:
                badges += f' <span class="badge same">identical to {html.escape(series.identical_to)}</span>'
            rows.append(
                f'<tr data-series="{html.escape(series.name)}"><td class="series">'
                f"{html.escape(series.name)}{badges}</td>"
                + "".join(_number(value) for value in row.numbers()) + f"{diff}</tr>"
            )
        header = "".join(f"<th>{html.escape(h)}</th>" for h in SUMMARY_HEADER)
        parts.append(
            f'<section class="run" data-run-index="{index}">'
            f'<h3><span class="swatch" style="border-color: {run.colour}"></span>'
            f'<span class="run-name">{name}</span>{badge}</h3>'
            f'<p class="details">{html.escape(" · ".join(details))}</p>'
            f'<table class="summary" data-run-index="{index}"><thead><tr>{header}'
            f"<th>first difference from {html.escape(reference)}</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
        )
    return "\n".join(parts)


def lineage_html(comparison: Comparison) -> str:
    """The lineage table (one row per branch: parent, branch step, cooldown, final metrics)."""
    rows = lineage_rows(comparison)
    if not rows:
        return ""
    metric_heads = "".join(f"<th>final {html.escape(name)}</th>" for name in comparison.metrics)
    body = []
    for row in rows:
        branch = row.branch
        cells = [
            f'<td class="series">{html.escape(branch.child.name)}</td>',
            f'<td class="series">{html.escape(row.family.parent.name)}</td>',
            _number(branch.branch_step), _number(branch.cooldown),
            f'<td class="series">{html.escape(branch.shape or "—")}</td>',
        ]
        for name in comparison.metrics:
            final = row.finals[name]
            cells.append(_number(None if final is None else final[1]))
        body.append(f'<tr data-child="{html.escape(branch.child.name)}">{"".join(cells)}</tr>')
    return (
        '<h2>Lineage</h2><table class="summary lineage"><thead><tr><th>branch</th><th>parent</th>'
        f"<th>branch step</th><th>cooldown</th><th>shape</th>{metric_heads}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def events_html(comparison: Comparison) -> str:
    """The events of every run as a list (the figure marks them on the time axis)."""
    if not comparison.has_events:
        return ""
    items = []
    for run in comparison.runs:
        for event in run.events[:MAX_EVENT_ROWS]:
            items.append(f'<li data-kind="{html.escape(event["kind"])}">{html.escape(event_text(run, event))}</li>')
        hidden = len(run.events) - MAX_EVENT_ROWS
        if hidden > 0:
            items.append(f"<li>{html.escape(run.name)}: {hidden} more event(s) (see the figure)</li>")
    return f'<h2>Events</h2><ul class="events">{"".join(items)}</ul>'


def notes_html(notes: list[str]) -> str:
    """The notes (e.g. planned curves that could not be rebuilt) as a list, or nothing."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"<h2>Notes</h2><ul>{items}</ul>"
