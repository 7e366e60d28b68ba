"""The comparison as a static PNG, drawn with matplotlib's Agg canvas.

The same panels as the HTML page (``model.panels``: the lineage view, one
panel per hyperparameter, one per metric, the events strip), the same
colours, dash patterns and labels, then the summary numbers (and the lineage
rows) as tables. No pyplot and no global backend switch: the figure is drawn
on its own Agg canvas, so this is safe inside any program.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from paramsched.dashboard.assets import require
from paramsched.dashboard.downsample import keep_indices
from paramsched.dashboard.model import (
    PALETTE,
    PLANNED_DASH,
    Comparison,
    Family,
    Panel,
    all_summary_rows,
    cooldown_segment,
    drawing_order,
    event_text,
    event_value,
    final_range,
    format_number,
    lineage_rows,
    metric_label,
    metric_log_scale,
    ordered_series,
    panels,
    series_label,
)

# Lines of the PNG are thinned harder than the HTML's: the image is ~1500 px wide.
PNG_MAX_POINTS = 1500
_PANEL_INCHES = 2.8
_MARKERS = {"intervention": "v", "policy": "D", "drift": "o", "resume": "*"}


def write_png(
    comparison: Comparison, out: str | os.PathLike[str], *, by: str = "step", dpi: int = 110
) -> Path:
    """Write the comparison as a PNG image to ``out`` (parent folders are created)."""
    FigureCanvasAgg, Figure = _matplotlib()

    path = Path(out)
    rows = panels(comparison)
    summary = list(all_summary_rows(comparison))
    lineage = lineage_rows(comparison)
    tables = [0.6 + 0.24 * (len(summary) + 1)]
    if lineage:
        tables.append(0.6 + 0.24 * (len(lineage) + 1))
    heights = [_PANEL_INCHES * panel.height for panel in rows] + tables
    figure = Figure(figsize=(13, sum(heights) + 0.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(len(heights), 1, height_ratios=heights)
    first_axis = None
    for index, panel in enumerate(rows):
        axis = figure.add_subplot(grid[index], sharex=first_axis)
        first_axis = first_axis or axis
        _draw_panel(axis, comparison, panel, by)
        axis.set_title("events" if panel.kind == "events" else panel.title, loc="left", fontsize=11)  # no hover here
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        if index == len(rows) - 1:
            axis.set_xlabel("step" if by == "step" else "fraction of run")
    _summary_table(figure.add_subplot(grid[len(rows)]), comparison, summary)
    if lineage:
        _lineage_table(figure.add_subplot(grid[len(rows) + 1]), comparison, lineage)
    figure.suptitle(comparison.title, fontsize=13)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _matplotlib() -> tuple[Any, Any]:
    """matplotlib's Agg canvas and Figure classes (no pyplot, no global backend switch)."""
    agg = require("matplotlib.backends.backend_agg", "the PNG dashboard")
    figure = require("matplotlib.figure", "the PNG dashboard")
    return agg.FigureCanvasAgg, figure.Figure


def _style(dash: tuple[int, ...], width: float) -> Any:
    """A model dash pattern (px) as a matplotlib line style for a line ``width`` points wide."""
    if not dash:
        return "-"
    # matplotlib scales dash lengths by the line width; undo it so patterns look alike.
    return (0, tuple(n * 0.75 / width for n in dash))


def _draw_panel(axis: Any, comparison: Comparison, panel: Panel, by: str) -> None:
    if panel.kind == "hp":
        _hp_panel(axis, comparison, panel.key or "", by)
    elif panel.kind == "metric":
        _metric_panel(axis, comparison, panel.metric or "", by)
    elif panel.kind == "lineage":
        assert panel.family is not None
        _lineage_panel(axis, panel.family, by)
    elif panel.kind == "final":
        assert panel.family is not None
        _final_panel(axis, panel.family, panel.metric or "", by)
    else:
        _events_panel(axis, comparison, by)


def _hp_panel(axis: Any, comparison: Comparison, key: str, by: str) -> None:
    for run in drawing_order(comparison):
        scale = run.total_steps if by == "fraction" else 1
        width = 4.0 if run.is_reference else 1.8
        for series in ordered_series(run, comparison.keys):
            if series.key != key:
                continue
            if series.planned_differs:
                assert series.planned is not None
                keep = keep_indices(series.planned, PNG_MAX_POINTS)
                axis.plot(series.steps[keep] / scale, series.planned[keep], linestyle=_style(PLANNED_DASH, 1.2),
                          linewidth=1.2, color=series.colour, alpha=0.8,
                          label=f"{run.name} · {series.group} (planned)")
            keep = keep_indices(series.values, PNG_MAX_POINTS)
            axis.plot(series.steps[keep] / scale, series.values[keep], linestyle=_style(run.dash, width),
                      linewidth=width, zorder=1 if run.is_reference else 2, color=series.colour,
                      label=series_label(run, series))
            d = series.divergence
            if d is not None and d.step is not None:
                value = d.value if d.value is not None else d.reference_value
                axis.plot([d.step / scale], [value], marker="x", markersize=10,
                          markeredgewidth=2, color=series.colour, linestyle="none", zorder=4)
        for event in run.events:
            series = run.series.get(event.get("series") or "")
            value = event_value(run, event) if series is not None and series.key == key else None
            if value is not None:
                _event_marker(axis, event["kind"], event["step"] / scale, value, run.colour)


def _event_marker(axis: Any, kind: str, x: float, y: float, colour: str) -> None:
    open_marker = kind == "drift"
    axis.plot([x], [y], marker=_MARKERS[kind], markersize=9, linestyle="none", zorder=5,
              markerfacecolor="none" if open_marker else colour, markeredgecolor="#222" if not open_marker else colour,
              markeredgewidth=1.5 if open_marker else 0.8)


def _metric_panel(axis: Any, comparison: Comparison, name: str, by: str) -> None:
    for run in drawing_order(comparison):
        metric = run.metrics.get(name)
        if metric is None:
            continue
        scale = run.total_steps if by == "fraction" else 1
        width = 2.6 if run.is_reference else 1.5
        keep = keep_indices(metric.values, PNG_MAX_POINTS)
        axis.plot(metric.steps[keep] / scale, metric.values[keep], color=run.colour, linewidth=width,
                  linestyle=_style(run.dash, width), label=metric_label(run, metric))
    if metric_log_scale(comparison, name):
        axis.set_yscale("log")


def _lineage_panel(axis: Any, family: Family, by: str) -> None:
    parent = family.parent
    scale = parent.total_steps if by == "fraction" else 1
    series = parent.series[family.series]
    keep = keep_indices(series.values, PNG_MAX_POINTS)
    axis.plot(series.steps[keep] / scale, series.values[keep], color=parent.colour, linewidth=3.0,
              linestyle=_style(parent.dash, 3.0), label=f"{parent.name} (parent)")
    for branch in family.branches:
        segment = cooldown_segment(branch, family)
        if segment is None:
            continue
        steps, values = segment
        keep = keep_indices(values, PNG_MAX_POINTS)
        axis.plot(steps[keep] / scale, values[keep], color=branch.child.colour, linewidth=2.0,
                  linestyle=_style(branch.child.dash, 2.0),
                  label=f"{branch.child.name} (at step {branch.branch_step})")


def _final_panel(axis: Any, family: Family, name: str, by: str) -> None:
    parent = family.parent
    scale = parent.total_steps if by == "fraction" else 1
    metric = parent.metrics.get(name)
    if metric is not None:
        keep = keep_indices(metric.values, PNG_MAX_POINTS)
        axis.plot(metric.steps[keep] / scale, metric.values[keep], color=parent.colour, linewidth=1.0,
                  alpha=0.6, label=f"{parent.name} (parent) {name}")
    points = [(b, b.child.metrics[name].final) for b in family.branches if name in b.child.metrics]
    if points:
        xs = [b.branch_step / scale for b, _ in points]
        ys = [value for _, (_, value) in points]
        axis.plot(xs, ys, color="#555", linewidth=1.0, zorder=3)
        for (b, _), x, y in zip(points, xs, ys, strict=True):
            axis.plot([x], [y], marker="o", markersize=9, color=b.child.colour, markeredgecolor="#222",
                      linestyle="none", zorder=4, label=f"{b.child.name}: final {name} {y:.6g}")
    y_range = final_range(family, name)
    if y_range is not None:
        axis.set_ylim(*y_range)


def _events_panel(axis: Any, comparison: Comparison, by: str) -> None:
    rows = [run for run in comparison.runs if run.events]
    for row, run in enumerate(rows):
        scale = run.total_steps if by == "fraction" else 1
        for event in run.events:
            _event_marker(axis, event["kind"], event["step"] / scale, row, run.colour)
    axis.set_yticks(range(len(rows)), [run.name for run in rows], fontsize=8)
    axis.set_ylim(-0.6, len(rows) - 0.4)
    shown = [event_text(run, e) for run in rows for e in run.events][:3]
    if shown:
        more = sum(len(run.events) for run in rows) - len(shown)
        axis.text(1.01, 1.0, "\n".join(_clip(t, 60) for t in shown) + (f"\n… {more} more" if more > 0 else ""),
                  transform=axis.transAxes, fontsize=7, va="top")


def _summary_table(axis: Any, comparison: Comparison, rows: list[Any]) -> None:
    axis.axis("off")
    reference = comparison.reference_run.name
    header = ["run", "series", "total", "warmup", "peak", "final", "decay start",
              f"first difference from {reference}"]
    cells = []
    for row in rows:
        total, _, warmup, peak, _, final, decay = row.numbers()
        label = row.series.name + (f" (identical to {row.series.identical_to})" if row.series.identical_to else "")
        cells.append([
            row.run.name, _clip(label, 48), format_number(total), format_number(warmup), format_number(peak),
            format_number(final), format_number(decay), _clip(row.difference),
        ])
    _table(axis, cells, header)


def _lineage_table(axis: Any, comparison: Comparison, rows: list[Any]) -> None:
    axis.axis("off")
    header = ["branch", "parent", "branch step", "cooldown", "shape", *(f"final {m}" for m in comparison.metrics)]
    cells = []
    for row in rows:
        b = row.branch
        finals = [format_number(None if row.finals[m] is None else row.finals[m][1]) for m in comparison.metrics]
        cells.append([b.child.name, row.family.parent.name, str(b.branch_step), format_number(b.cooldown),
                      b.shape or "—", *finals])
    _table(axis, cells, header)


def _table(axis: Any, cells: list[list[str]], header: list[str]) -> None:
    table = axis.table(cellText=cells, colLabels=header, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))


def _clip(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_png(
    values: dict[str, np.ndarray], steps: np.ndarray | int, out: str | os.PathLike[str]
) -> Path:
    """Plot schedule values (``{label: values at steps}``) as one panel per label.

    ``steps`` is the array of steps the values belong to (an int ``n`` means
    ``0..n-1``, every step).
    """
    FigureCanvasAgg, Figure = _matplotlib()

    path = Path(out)
    figure = Figure(figsize=(10, 2.6 * len(values) + 0.6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(values), 1, sharex=True, squeeze=False)[:, 0]
    xs = np.arange(steps) if isinstance(steps, int) else np.asarray(steps)
    for axis, (label, ys) in zip(axes, values.items(), strict=True):
        keep = keep_indices(ys, PNG_MAX_POINTS)
        axis.plot(xs[keep], ys[keep], linewidth=1.8, color=PALETTE[0])
        axis.set_title(label, loc="left", fontsize=11)
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step")
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
