"""The comparison as a static PNG, drawn with matplotlib's Agg canvas.

The same content as the HTML page: one panel per key, a line per run x
group, planned curves dashed where they differ, a cross at each first
divergence from the reference run, and the summary numbers as a table.
No pyplot and no global backend switch: the figure is drawn on its own
Agg canvas, so this is safe inside any program.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from paramsched.dashboard.assets import require
from paramsched.dashboard.compare import Comparison
from paramsched.dashboard.downsample import keep_indices
from paramsched.dashboard.html import PALETTE, _ordered_series

# Lines of the PNG are thinned harder than the HTML's: the image is ~1500 px wide.
PNG_MAX_POINTS = 1500


def write_png(
    comparison: Comparison, out: str | os.PathLike[str], *, by: str = "step", dpi: int = 110
) -> Path:
    """Write the comparison as a PNG image to ``out`` (parent folders are created)."""
    FigureCanvasAgg, Figure = _matplotlib()

    path = Path(out)
    keys = comparison.keys
    rows = [(run, series) for run in comparison.runs for series in _ordered_series(run, keys)]
    table_height = 0.6 + 0.24 * (len(rows) + 1)
    figure = Figure(figsize=(13, 2.8 * len(keys) + table_height + 0.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(len(keys) + 1, 1, height_ratios=[2.8] * len(keys) + [table_height])
    colours: dict[tuple[str, str], str] = {}
    for run, series in rows:
        colours.setdefault((run.name, series.group), PALETTE[len(colours) % len(PALETTE)])
    reference = comparison.reference_run.name
    first_axis = None
    for row, key in enumerate(keys):
        axis = figure.add_subplot(grid[row], sharex=first_axis)
        first_axis = first_axis or axis
        for run, series in rows:
            if series.key != key:
                continue
            colour = colours[(run.name, series.group)]
            scale = run.total_steps if by == "fraction" else 1
            if series.planned_differs:
                assert series.planned is not None
                keep = keep_indices(series.planned, PNG_MAX_POINTS)
                axis.plot(series.steps[keep] / scale, series.planned[keep], linestyle="--",
                          linewidth=1.2, color=colour, alpha=0.8,
                          label=f"{run.name} · {series.group} (planned)")
            keep = keep_indices(series.values, PNG_MAX_POINTS)
            axis.plot(series.steps[keep] / scale, series.values[keep],
                      linewidth=4.0 if run.is_reference else 1.8, zorder=1 if run.is_reference else 2,
                      color=colour, label=f"{run.name} · {series.group}")
            d = series.divergence
            if d is not None and d.step is not None:
                value = d.value if d.value is not None else d.reference_value
                axis.plot([d.step / scale], [value], marker="x", markersize=10,
                          markeredgewidth=2, color=colour, linestyle="none")
        axis.set_title(key, loc="left", fontsize=11)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        if row == len(keys) - 1:
            axis.set_xlabel("step" if by == "step" else "fraction of run")
    table_axis = figure.add_subplot(grid[len(keys)])
    table_axis.axis("off")
    header = ["run", "series", "total", "warmup", "peak", "final", "decay start",
              f"first difference from {reference}"]
    cells = []
    for run, series in rows:
        s = series.summary
        if run.is_reference:
            diff = "reference"
        elif series.divergence is None:
            diff = "identical"
        else:
            diff = series.divergence.describe(run.name, reference)
        cells.append([
            run.name, series.name, str(run.total_steps), str(s.warmup), f"{s.peak:.6g}",
            f"{s.final:.6g}", "—" if s.decay_start is None else str(s.decay_start), _clip(diff),
        ])
    table = table_axis.table(cellText=cells, colLabels=header, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
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


def _clip(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_png(values: dict[str, np.ndarray], total_steps: int, out: str | os.PathLike[str]) -> Path:
    """Plot schedule values (``{label: values per step}``) as one panel per label."""
    FigureCanvasAgg, Figure = _matplotlib()

    path = Path(out)
    figure = Figure(figsize=(10, 2.6 * len(values) + 0.6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(values), 1, sharex=True, squeeze=False)[:, 0]
    steps = np.arange(total_steps)
    for axis, (label, ys) in zip(axes, values.items(), strict=True):
        keep = keep_indices(ys, PNG_MAX_POINTS)
        axis.plot(steps[keep], ys[keep], linewidth=1.8, color=PALETTE[0])
        axis.set_title(label, loc="left", fontsize=11)
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step")
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
