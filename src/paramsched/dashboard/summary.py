"""Summary numbers of a recorded series, and where two series first differ.

Computed from every recorded step (never from the downsampled drawing).

Definitions, for a series with values ``y`` at recorded steps ``s``:

* ``peak`` is ``max(y)``; ``peak_step`` the first step holding it.
* ``warmup`` is the number of steps before the series first reaches its
  peak (``peak_step - s[0]``), or 0 when it starts at its peak.
* ``decay_start`` is the last step still at the peak before the value first
  falls below it (the step the decay starts from), or ``None`` when the
  series never falls after its peak.
* ``final`` is the value at the last recorded step.

>>> import numpy as np
>>> steps = np.arange(10)
>>> s = summarize(steps, np.array([0, .5, 1, 1, 1, 1, .75, .5, .25, 0]))
>>> s.warmup, s.peak, s.peak_step, s.decay_start, s.final
(2, 1.0, 2, 5, 0.0)
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SeriesSummary:
    """Summary numbers of one series (see the module docstring for the definitions)."""

    steps: int
    first_step: int
    last_step: int
    warmup: int
    peak: float
    peak_step: int
    final: float
    decay_start: int | None


@dataclasses.dataclass(frozen=True)
class Divergence:
    """Where a series first differs from the same series of a reference run.

    ``reason`` is ``"value"`` (both have the step, with different values),
    ``"missing"`` (the run has no value at a step the reference has),
    ``"extra"`` (the run has a step the reference lacks) or ``"no_series"``
    (the reference has no such series; ``step`` is then ``None``).
    """

    step: int | None
    reason: str
    value: float | None = None
    reference_value: float | None = None

    def describe(self, run: str = "run", reference: str = "reference") -> str:
        """One line of text, e.g. ``step 150: 0.1 (run) vs 0.05 (reference)``."""
        if self.reason == "no_series":
            return f"not in {reference}"
        if self.reason == "missing":
            return f"step {self.step}: only in {reference} ({run} has no value)"
        if self.reason == "extra":
            return f"step {self.step}: only in {run} ({reference} has no value)"
        return f"step {self.step}: {self.value!r} ({run}) vs {self.reference_value!r} ({reference})"


def summarize(steps: np.ndarray, values: np.ndarray) -> SeriesSummary:
    """The summary of one series given its recorded steps (sorted) and values."""
    s = np.asarray(steps, dtype=np.int64)
    y = np.asarray(values, dtype=np.float64)
    if s.size == 0 or s.size != y.size:
        raise ValueError(
            f"steps and values must be non-empty and the same length, got {s.size} steps "
            f"and {y.size} values"
        )
    peak_index = int(np.argmax(y))  # first occurrence of the maximum
    peak = float(y[peak_index])
    warmup = int(s[peak_index] - s[0]) if y[0] < peak else 0
    decay_start = None
    falls = np.nonzero(y[peak_index + 1:] < y[peak_index:-1])[0]
    if falls.size:
        decay_start = int(s[peak_index + int(falls[0])])
    return SeriesSummary(
        steps=int(s.size),
        first_step=int(s[0]),
        last_step=int(s[-1]),
        warmup=warmup,
        peak=peak,
        peak_step=int(s[peak_index]),
        final=float(y[-1]),
        decay_start=decay_start,
    )


def first_divergence(
    ref_steps: np.ndarray, ref_values: np.ndarray, steps: np.ndarray, values: np.ndarray
) -> Divergence | None:
    """The first step where a series differs from the reference series, or ``None``.

    Values are compared with ``==`` (replayed values are bit-for-bit copies).
    A step that only one of the two has counts as a difference.

    >>> first_divergence(np.arange(3), np.array([1., 2, 3]), np.arange(3), np.array([1., 2, 4]))
    Divergence(step=2, reason='value', value=4.0, reference_value=3.0)
    """
    rs = np.asarray(ref_steps, dtype=np.int64)
    rv = np.asarray(ref_values, dtype=np.float64)
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if rs.size == s.size and np.array_equal(rs, s):
        differs = np.nonzero(rv != v)[0]
        if differs.size == 0:
            return None
        i = int(differs[0])
        return Divergence(int(s[i]), "value", float(v[i]), float(rv[i]))
    candidates: list[Divergence] = []
    common, in_ref, in_run = np.intersect1d(rs, s, assume_unique=True, return_indices=True)
    differs = np.nonzero(rv[in_ref] != v[in_run])[0]
    if differs.size:
        i = int(differs[0])
        candidates.append(
            Divergence(int(common[i]), "value", float(v[in_run[i]]), float(rv[in_ref[i]]))
        )
    missing = np.setdiff1d(rs, s, assume_unique=True)
    if missing.size:
        step = int(missing[0])
        ref_at = float(rv[np.searchsorted(rs, step)])
        candidates.append(Divergence(step, "missing", None, ref_at))
    extra = np.setdiff1d(s, rs, assume_unique=True)
    if extra.size:
        step = int(extra[0])
        candidates.append(Divergence(step, "extra", float(v[np.searchsorted(s, step)]), None))
    if not candidates:
        return None
    return min(candidates, key=lambda d: d.step)
