"""What a comparison shows, whatever draws it: runs, series, metrics, events, lineage, styles.

``compare.build_comparison`` fills these objects; the HTML renderer
(``figure.py`` + ``html.py``) and the PNG renderer (``png.py``) only read
them, so both draw the same panels with the same colours, dashes, labels and
table cells.

Styles: each run has one colour and one dash pattern (the reference run is
solid), used for every line of that run in every panel (hyperparameters,
metrics, lineage); a run's param groups are shades of its colour. A series
equal to one drawn before it says so in its label (``identical to <run>``),
so a line hidden under another is still accounted for.

>>> shade("#1f77b4", 0), shade("#1f77b4", 1)
('#1f77b4', '#16537e')
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from paramsched.dashboard.summary import Divergence, SeriesSummary
from paramsched.naming import parse_series_name

BY_CHOICES = ("step", "fraction")
# One colour per run, in order; the palette repeats after ten runs (with another dash).
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)
# One dash pattern per run (on/off lengths in px; () is solid). Dots are left to planned curves.
DASHES: tuple[tuple[int, ...], ...] = (
    (), (9, 4), (14, 4, 3, 4), (5, 3), (18, 5), (12, 3, 3, 3, 3, 3),
)
PLANNED_DASH = (2, 3)
# Lightness steps for a run's groups: 0 is the run's colour, negative darker, positive lighter.
_SHADES = (0.0, -0.3, 0.35, -0.55, 0.6, -0.75)
EVENT_SYMBOLS = {"intervention": "triangle-down", "policy": "diamond", "drift": "circle-open", "resume": "star"}


@dataclasses.dataclass
class SeriesData:
    """One recorded hyperparameter series of one run, with everything the dashboard shows."""

    name: str
    key: str
    group: str
    steps: np.ndarray
    values: np.ndarray
    summary: SeriesSummary
    planned: np.ndarray | None = None  # planned values at ``steps``, when the spec is known
    replayed: bool = False  # scheduled by a ReplaySchedule (values replayed from another run)
    divergence: Divergence | None = None  # first difference from the reference run
    identical_to: str | None = None  # label of an earlier-drawn series with the same values
    colour: str = PALETTE[0]

    @property
    def planned_differs(self) -> bool:
        return self.planned is not None and bool(np.any(self.planned != self.values))


@dataclasses.dataclass
class MetricData:
    """One training metric (loss, val_loss, ...) one run logged: the steps it has, no NaN."""

    name: str
    steps: np.ndarray
    values: np.ndarray
    identical_to: str | None = None

    @property
    def final(self) -> tuple[int, float]:
        """The last logged (step, value)."""
        return int(self.steps[-1]), float(self.values[-1])


@dataclasses.dataclass
class RunData:
    """One run: its name, where it came from, its series (recorded order), metrics and events."""

    name: str
    source: str
    metadata: dict[str, Any] | None
    total_steps: int
    total_from_metadata: bool
    series: dict[str, SeriesData]
    is_reference: bool = False
    metrics: dict[str, MetricData] = dataclasses.field(default_factory=dict)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    lineage: dict[str, Any] | None = None  # metadata["parent"] of a branched run
    colour: str = PALETTE[0]
    dash: tuple[int, ...] = ()

    def keys(self) -> list[str]:
        return list(dict.fromkeys(s.key for s in self.series.values()))

    def groups(self) -> list[str]:
        return list(dict.fromkeys(s.group for s in self.series.values()))


@dataclasses.dataclass
class Branch:
    """A child run of a family: branched from its parent at ``branch_step``."""

    child: RunData
    branch_step: int
    cooldown: int | None
    shape: str | None


@dataclasses.dataclass
class Family:
    """A parent run and the runs branched from it (by branch step), drawn as the lineage view.

    ``series`` is the parent's series the view draws (its first lineage key,
    e.g. ``hp/lr/body``).
    """

    parent: RunData
    branches: list[Branch]
    series: str


@dataclasses.dataclass
class Comparison:
    """Runs lined up for drawing: ``keys`` is the panel order, ``runs[reference]`` the reference.

    ``metrics`` are the training metrics asked for (a panel each, under the
    hyperparameters), ``families`` the parent/children groups found among the
    runs (the lineage view).
    """

    runs: list[RunData]
    keys: list[str]
    reference: int
    title: str
    notes: list[str]
    metrics: list[str] = dataclasses.field(default_factory=list)
    families: list[Family] = dataclasses.field(default_factory=list)

    @property
    def reference_run(self) -> RunData:
        return self.runs[self.reference]

    @property
    def has_events(self) -> bool:
        return any(run.events for run in self.runs)


# -- styles -------------------------------------------------------------------------------


def shade(colour: str, step: int) -> str:
    """``colour`` (``#rrggbb``) darker or lighter by the ``step``-th shade (0: unchanged)."""
    amount = _SHADES[step % len(_SHADES)]
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    if amount < 0:
        rgb = [round(c * (1 + amount)) for c in rgb]
    else:
        rgb = [round(c + (255 - c) * amount) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def apply_styles(comparison: Comparison) -> None:
    """Give each run its colour and dash (reference: solid), each series its group's shade."""
    others = 0
    for index, run in enumerate(comparison.runs):
        run.colour = PALETTE[index % len(PALETTE)]
        if run.is_reference:
            run.dash = ()
        else:
            others += 1
            run.dash = DASHES[1 + (others - 1) % (len(DASHES) - 1)]
        groups = run.groups()
        for series in run.series.values():
            series.colour = shade(run.colour, groups.index(series.group))


# -- drawing order and labels -----------------------------------------------------------------


def drawing_order(comparison: Comparison) -> list[RunData]:
    """The runs in the order they are drawn: the reference first (under the others)."""
    return sorted(comparison.runs, key=lambda run: not run.is_reference)


def ordered_series(run: RunData, keys: list[str]) -> list[SeriesData]:
    """The run's series by panel order, then by the run's group order."""
    groups = run.groups()
    return sorted(run.series.values(), key=lambda s: (keys.index(s.key), groups.index(s.group)))


def series_label(run: RunData, series: SeriesData) -> str:
    """The legend text of a series: ``run · group``, and what it is identical to."""
    label = f"{run.name} · {series.group}"
    return label if series.identical_to is None else f"{label} (identical to {series.identical_to})"


def metric_label(run: RunData, metric: MetricData) -> str:
    return run.name if metric.identical_to is None else f"{run.name} (identical to {metric.identical_to})"


def mark_identical(comparison: Comparison) -> None:
    """Set ``identical_to`` on each series (and metric) equal, step for step, to one drawn earlier.

    Within a panel, in drawing order: a series whose steps and values are
    ``==`` to an earlier one names it: ``baseline`` (the same group of
    another run, preferred), ``baseline · head`` (another group of another
    run) or ``head`` (another group of the same run).
    """
    runs = drawing_order(comparison)
    for key in comparison.keys:
        seen: dict[bytes, list[tuple[RunData, SeriesData]]] = {}
        for run in runs:
            for series in ordered_series(run, comparison.keys):
                if series.key != key:
                    continue
                digest = _digest(series.steps, series.values)
                equal = [
                    (other_run, other) for other_run, other in seen.get(digest, [])
                    if _same(other.steps, other.values, series.steps, series.values)
                ]
                if equal:
                    # the same group of another run reads best ("identical to baseline")
                    other_run, other = next((p for p in equal if p[1].group == series.group), equal[0])
                    series.identical_to = _who(other_run, other.group, run, series.group)
                seen.setdefault(digest, []).append((run, series))
    for name in comparison.metrics:
        seen_metrics: dict[bytes, list[tuple[RunData, MetricData]]] = {}
        for run in runs:
            metric = run.metrics.get(name)
            if metric is None:
                continue
            digest = _digest(metric.steps, metric.values)
            for other_run, other in seen_metrics.get(digest, []):
                if _same(other.steps, other.values, metric.steps, metric.values):
                    metric.identical_to = other_run.name
                    break
            seen_metrics.setdefault(digest, []).append((run, metric))


def _digest(steps: np.ndarray, values: np.ndarray) -> bytes:
    return hashlib.blake2b(steps.tobytes() + b"|" + values.tobytes(), digest_size=16).digest()


def _same(steps_a: np.ndarray, values_a: np.ndarray, steps_b: np.ndarray, values_b: np.ndarray) -> bool:
    return np.array_equal(steps_a, steps_b) and np.array_equal(values_a, values_b)


def _who(other: RunData, other_group: str, run: RunData, group: str) -> str:
    if other is run:
        return other_group
    return other.name if other_group == group else f"{other.name} · {other_group}"


# -- events ---------------------------------------------------------------------------------------


def event_text(run: RunData, event: Mapping[str, Any]) -> str:
    """One line about an event: ``run: intervention at step 50 on hp/lr/g0: 0.1 → 0.05 (spike)``."""
    text = f"{run.name}: {event['kind']} at step {event['step']}"
    if event.get("series"):
        text += f" on {event['series']}"
    before, after = event.get("before"), event.get("after")
    if before is not None or after is not None:
        text += f": {_value(before)} → {_value(after)}"
    if event.get("reason"):
        text += f" ({event['reason']})"
    return text


def _value(value: float | None) -> str:
    return "?" if value is None else format(value, ".6g")


def event_value(run: RunData, event: Mapping[str, Any]) -> float | None:
    """Where an event sits in its series' panel: the value after it (or the recorded value)."""
    if event.get("after") is not None:
        return float(event["after"])
    series = run.series.get(event.get("series") or "")
    if series is None or series.steps.size == 0:
        return None
    position = min(int(np.searchsorted(series.steps, event["step"])), series.steps.size - 1)
    return float(series.values[position])


# -- summary cells ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """The summary-table cells of one series (numbers from every recorded step)."""

    run: RunData
    series: SeriesData
    status: str  # "reference" | "identical" | "differs"
    difference: str  # text of the last column
    divergence_step: int | None

    def numbers(self) -> list[int | float | None]:
        """total steps, recorded steps, warmup, peak, peak step, final, decay start."""
        s = self.series.summary
        return [self.run.total_steps, s.steps, s.warmup, s.peak, s.peak_step, s.final, s.decay_start]


SUMMARY_HEADER = (
    "series", "total steps", "recorded steps", "warmup (steps)", "peak", "peak step", "final",
    "decay start",
)


def summary_rows(comparison: Comparison, run: RunData) -> list[SummaryRow]:
    """The rows of ``run``'s summary table, in panel order."""
    reference = comparison.reference_run.name
    rows = []
    for series in ordered_series(run, comparison.keys):
        if run.is_reference:
            status, text, step = "reference", "reference", None
        elif series.divergence is None:
            status, text, step = "identical", "identical", None
            if run.lineage is not None:  # a branch is compared over the steps it recorded
                text = f"identical over steps {series.summary.first_step}–{series.summary.last_step}"
        else:
            status = "differs"
            text = series.divergence.describe(run.name, reference)
            step = series.divergence.step
        rows.append(SummaryRow(run, series, status, text, step))
    return rows


def all_summary_rows(comparison: Comparison) -> Iterator[SummaryRow]:
    for run in comparison.runs:
        yield from summary_rows(comparison, run)


def format_number(value: int | float | None) -> str:
    """A table number as shown: ints as they are, floats with 6 significant digits, None as —."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


# -- lineage ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LineageRow:
    """One child of a family as the lineage table shows it."""

    family: Family
    branch: Branch
    finals: dict[str, tuple[int, float] | None]  # metric -> (step, value) of its last log


def lineage_rows(comparison: Comparison) -> list[LineageRow]:
    rows = []
    for family in comparison.families:
        for branch in family.branches:
            finals = {
                name: branch.child.metrics[name].final if name in branch.child.metrics else None
                for name in comparison.metrics
            }
            rows.append(LineageRow(family, branch, finals))
    return rows


# -- panels ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Panel:
    """One row of the figure, top to bottom, the same in the HTML page and the PNG.

    ``kind`` is ``"lineage"`` (a family's parent and its branches' cooldowns),
    ``"final"`` (each branch's final ``metric`` against its branch step),
    ``"hp"`` (one hyperparameter ``key``), ``"metric"`` (one training metric)
    or ``"events"`` (every run's events on the time axis).
    """

    kind: str
    title: str
    y_title: str
    height: float  # relative height (a hyperparameter panel is 1.0)
    key: str | None = None
    metric: str | None = None
    family: Family | None = None

    @property
    def id(self) -> str:
        """A stable name for the panel (the page's trace metadata carries it)."""
        if self.kind == "hp":
            return f"hp:{self.key}"
        if self.kind == "metric":
            return f"metric:{self.metric}"
        if self.kind in ("lineage", "final"):
            assert self.family is not None
            suffix = f":{self.metric}" if self.metric else ""
            return f"{self.kind}:{self.family.parent.name}{suffix}"
        return self.kind


def panels(comparison: Comparison) -> list[Panel]:
    """The figure's rows: lineage view first, then hyperparameters, metrics and events."""
    rows: list[Panel] = []
    for family in comparison.families:
        parent = family.parent
        key, group = parse_series_name(family.series)
        rows.append(Panel(
            "lineage", f"lineage of {parent.name}: {key} ({group}), branches fanned out from their "
            "branch steps", key, 1.0, family=family,
        ))
        for name in comparison.metrics:
            rows.append(Panel(
                "final", f"final {name} of each branch vs its branch step ({parent.name})", name, 0.9,
                metric=name, family=family,
            ))
    rows.extend(Panel("hp", key, key, 1.0, key=key) for key in comparison.keys)
    rows.extend(Panel("metric", f"metric: {name}", name, 0.9, metric=name) for name in comparison.metrics)
    if comparison.has_events:
        count = sum(1 for run in comparison.runs if run.events)
        rows.append(Panel("events", "events (hover for the reason)", "", 0.25 + 0.1 * count))
    return rows


def branch_series(branch: Branch, family: Family) -> SeriesData | None:
    """The child's series drawn in the lineage view: the parent's series name, else same key."""
    found = branch.child.series.get(family.series)
    if found is not None:
        return found
    key = parse_series_name(family.series)[0]
    return next((s for s in branch.child.series.values() if s.key == key), None)


def cooldown_segment(branch: Branch, family: Family) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, values)`` of a branch's line in the lineage view, from the step before its
    branch step (so the cooldown starts on the parent's line); ``None`` when there is none."""
    mine = branch_series(branch, family)
    if mine is None:
        return None
    start = int(np.searchsorted(mine.steps, max(branch.branch_step - 1, 0)))
    steps, values = mine.steps[start:], mine.values[start:]
    return (steps, values) if steps.size else None


def final_range(family: Family, metric: str) -> tuple[float, float] | None:
    """The y range of a "final metric vs branch step" panel: the branches' final values and the
    parent's curve from the first branch step on (its early, much higher values would flatten
    the differences the panel is for), padded by a tenth. ``None`` when nothing is logged.
    """
    values = [b.child.metrics[metric].final[1] for b in family.branches if metric in b.child.metrics]
    parent = family.parent.metrics.get(metric)
    if parent is not None and family.branches:
        first = min(b.branch_step for b in family.branches)
        values.extend(parent.values[parent.steps >= first].tolist())
    if not values:
        return None
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    return low - pad, high + pad


def metric_log_scale(comparison: Comparison, metric: str) -> bool:
    """Whether a metric panel uses a log y axis: when every logged value is > 0 (a loss), so a
    cooldown's gain late in training shows beside the early drop."""
    found = [run.metrics[metric].values for run in comparison.runs if metric in run.metrics]
    return bool(found) and all(bool(np.all(values > 0)) for values in found)
