"""Which recorded steps go to the W&B chart: a thinned stream, while every value is kept in a file.

A W&B history row costs the training process about 0.3-1 ms of CPU (most of
it holding the GIL) plus as much again in wandb-core, so logging every
optimizer step of a fast loop costs more than the step. The recorder keeps
every value exactly in the run's files (``paramsched/values.csv``, which
replay reads) and charts only the rows a reader of the chart needs:

- the first step, and the last one at ``close()``;
- every phase boundary of the run's schedules (the step before it and the
  first step of the new phase), so a kink or a jump is drawn where it is;
- the step of every event (an intervention, drift, a resume) and the one
  before it, and the phase boundaries of a schedule an intervention puts in;
- any step where some value moved by more than ``change`` times the
  series' scale since the last charted step (the scale is the largest
  magnitude the series had at a charted step, or its base value in the
  optimizer, whichever is larger); when that one step alone moved it that
  far (a jump nobody announced), the step before is charted too;
- at least every ``every`` steps.

``every=1`` charts every step (W&B then holds every value too).

This is not :class:`paramsched.recording.charting.ChartPolicy` (which MLflow
uses): a W&B history row costs the same whatever it holds, so this policy
picks whole rows, where MLflow's, billed per value, picks series by series.
The phase boundaries come from the same :func:`~paramsched.recording.charting.phase_steps`.

>>> policy = ChartPolicy(every=4)
>>> thin = Thinner(policy, 1)
>>> [step for k in range(10) for step, _ in thin.offer(k, [1.0])] + [s for s, _ in thin.finish()]
[0, 4, 8, 9]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from paramsched.checks import check_positive_int, check_real, describe
from paramsched.naming import parse_series_name
from paramsched.recording.charting import phase_steps

__all__ = ["DEFAULT_CHANGE", "DEFAULT_EVERY", "ChartPolicy", "Thinner", "phase_steps", "series_scales"]

DEFAULT_EVERY = 100
DEFAULT_CHANGE = 0.05

ChartRow = tuple[int, list[float]]


@dataclasses.dataclass(frozen=True)
class ChartPolicy:
    """How the W&B chart is thinned (see the module docstring).

    Args:
        every: chart at least every ``every`` steps; 1 charts every step.
        change: chart a step where a value moved by more than this fraction
            of its scale since the last charted step (a float in [0, 1);
            0 charts every change).

    >>> ChartPolicy().to_json()
    {'every': 100, 'change': 0.05, 'boundaries': True, 'events': True}
    """

    every: int = DEFAULT_EVERY
    change: float = DEFAULT_CHANGE

    def __post_init__(self) -> None:
        check_positive_int("chart_every", self.every)
        change = check_real("chart_change", self.change)
        if not 0.0 <= change < 1.0:
            raise ValueError(
                f"chart_change must be a fraction in [0, 1) of a series' scale, got chart_change={describe(self.change)}"
            )
        object.__setattr__(self, "change", change)

    def to_json(self) -> dict[str, Any]:
        """The policy as stored in the run's config (``config["paramsched_chart"]``)."""
        return {"every": self.every, "change": self.change, "boundaries": True, "events": True}


class Thinner:
    """Decides, row by row and in order, which rows to chart (one per recorder; not thread-safe).

    Args:
        policy: the :class:`ChartPolicy`.
        width: how many series a row holds.
        boundaries: steps that start a phase (charted with the step before).
        scales: per series, the smallest scale the change test uses (the
            base values in the optimizer; see :func:`series_scales`).
    """

    def __init__(
        self,
        policy: ChartPolicy,
        width: int,
        *,
        boundaries: Iterable[int] = (),
        scales: Sequence[float] | None = None,
    ) -> None:
        self.every = policy.every
        self.change = policy.change
        self._forced: set[int] = set(boundaries)
        self._magnitude = [abs(float(s)) for s in scales] if scales is not None else [0.0] * width
        if len(self._magnitude) != width:
            raise ValueError(f"scales must hold one value per series ({width}), got {len(self._magnitude)}")
        self._last_step: int | None = None
        self._last: list[float] = []
        self._limit: list[float] = []
        self._prev: ChartRow | None = None  # the row offered last, when it was not charted
        self.charted = 0

    def force(self, steps: Iterable[int]) -> None:
        """Chart these steps (and the step before each) when they are offered."""
        self._forced.update(steps)

    def offer(self, step: int, values: list[float]) -> list[ChartRow]:
        """The rows to chart now: ``[]``, ``[(step, values)]``, or the previous row and this one."""
        last_step = self._last_step
        if last_step is None or self.every == 1 or step - last_step >= self.every or step < last_step:
            return self._chart(step, values, with_prev=step in self._forced)
        if step in self._forced:
            return self._chart(step, values, with_prev=True)
        for value, mark, limit in zip(values, self._last, self._limit):
            if value - mark > limit or mark - value > limit:
                return self._chart(step, values, with_prev=self._jumped(values))
        self._prev = (step, values)
        return []

    def offer_many(self, steps: Any, values: Any) -> list[ChartRow]:
        """:meth:`offer` for a batch of rows at once (a step array and a float64 matrix, one
        row per step), with the same result, in numpy: a few array operations per charted
        row instead of a Python loop over every value of every row.

        >>> import numpy as np
        >>> thin = Thinner(ChartPolicy(every=4), 1)
        >>> [s for s, _ in thin.offer_many(np.arange(10), np.ones((10, 1)))]
        [0, 4, 8]
        """
        import numpy as np

        count = len(steps)
        if count == 0:
            return []
        if self.every == 1:
            out = [(int(s), row) for s, row in zip(steps.tolist(), values.tolist())]
            self._prev = None
            self._mark(*out[-1])
            self.charted += len(out)
            return out
        first, last = int(steps.min()), int(steps.max())
        forced = [f for f in self._forced if first <= f <= last]  # the set is fixed during a batch
        forced_rows = np.isin(steps, np.array(forced, dtype=np.int64)) if forced else None
        out: list[ChartRow] = []
        pos = 0
        while pos < count:
            if self._last_step is None:
                j = pos
            else:
                rest_steps = steps[pos:]
                hit = (rest_steps - self._last_step >= self.every) | (rest_steps < self._last_step)
                if forced_rows is not None:
                    hit |= forced_rows[pos:]
                moved = np.abs(values[pos:] - np.asarray(self._last)) > np.asarray(self._limit)
                hit |= moved.any(axis=1)
                found = np.flatnonzero(hit)
                if not len(found):
                    self._prev = (int(steps[-1]), values[-1].tolist())
                    break
                j = pos + int(found[0])
            if j > pos:
                self._prev = (int(steps[j - 1]), values[j - 1].tolist())
            out.extend(self.offer(int(steps[j]), values[j].tolist()))
            pos = j + 1
        return out

    def finish(self) -> list[ChartRow]:
        """The last row offered, when it was not charted (so the chart reaches the end)."""
        prev, self._prev = self._prev, None
        if prev is None:
            return []
        self._mark(*prev)
        return [prev]

    def _jumped(self, values: list[float]) -> bool:
        """True when the step from the previous row alone moved some value past its limit."""
        if self._prev is None:
            return False
        for value, before, limit in zip(values, self._prev[1], self._limit):
            if value - before > limit or before - value > limit:
                return True
        return False

    def _chart(self, step: int, values: list[float], *, with_prev: bool) -> list[ChartRow]:
        out: list[ChartRow] = []
        if with_prev and self._prev is not None:
            out.append(self._prev)
        self._prev = None
        out.append((step, values))
        self._mark(step, values)
        self.charted += len(out)
        return out

    def _mark(self, step: int, values: list[float]) -> None:
        self._last_step = step
        self._last = values
        magnitude = self._magnitude
        for i, value in enumerate(values):
            size = abs(value)
            if size > magnitude[i]:
                magnitude[i] = size
        self._limit = [self.change * m for m in magnitude]


def series_scales(metadata: Mapping[str, Any], series: Sequence[str]) -> list[float]:
    """Per series, the optimizer's base value for its key and group (0.0 when unknown).

    >>> series_scales({"groups": [{"label": "g0", "base": {"lr": 0.001}}]}, ["hp/lr/g0", "hp/wd/g0"])
    [0.001, 0.0]
    """
    base: dict[tuple[str, str], float] = {}
    for group in metadata.get("groups") or ():
        if not isinstance(group, Mapping) or not isinstance(group.get("base"), Mapping):
            continue
        for key, value in group["base"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                base[(str(key), str(group.get("label")))] = abs(float(value))
    out = []
    for name in series:
        try:
            out.append(base.get(parse_series_name(name), 0.0))
        except ValueError:
            out.append(0.0)
    return out
