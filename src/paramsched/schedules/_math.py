"""The arithmetic every schedule shares: interpolation, progress through a run or a phase.

One home for each formula, so that two schedules that should agree (a
``Linear`` and a linear ``WarmupStableDecay`` phase, a preset and a replayed
series with ``gaps="linear"``) compute the same bits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def lerp(a: float, b: float, t: float) -> float:
    """``a + (b - a) * t`` for ``t`` in [0, 1]: exactly ``a`` at 0 and ``b`` at 1,
    monotone in ``t`` and always between ``a`` and ``b`` (the ``std::lerp`` recipe).

    >>> lerp(1.0, 0.0, 0.25), lerp(0.1, 0.3, 1.0)
    (0.75, 0.3)
    """
    if (a <= 0.0 and b >= 0.0) or (a >= 0.0 and b <= 0.0):
        return t * b + (1.0 - t) * a
    if t == 1.0:
        return b
    x = a + t * (b - a)
    return min(b, x) if b > a else max(b, x)


def progress(step: int, total_steps: int) -> float:
    """``step / total_steps`` clamped to [0, 1]."""
    if step <= 0:
        return 0.0
    if step >= total_steps:
        return 1.0
    return step / total_steps


def phase_progress(step: int, start: int, length: int) -> float:
    """Progress through a phase of ``length`` steps beginning at ``start``, clamped to [0, 1]."""
    if length <= 0 or step >= start + length:
        return 1.0
    if step <= start:
        return 0.0
    return (step - start) / length


def cos_weight(t: float) -> float:
    """Half-cosine weight: 1 at ``t = 0`` down to 0 at ``t = 1``."""
    return 0.5 * (1.0 + math.cos(math.pi * t))


def inner_steps(total_steps: int, *steps: int) -> tuple[int, ...]:
    """Sorted unique steps strictly inside the run, as ``phase_boundaries()`` returns them."""
    return tuple(sorted({s for s in steps if 0 < s < total_steps}))


def lerp_array(a: Any, b: Any, t: Any) -> np.ndarray:
    """:func:`lerp` elementwise over numpy arrays, bit for bit the same recipe.

    For the bulk paths (filling the gaps of a replayed series, rescaling a
    trajectory) where a Python loop over :func:`lerp` would cost seconds; a
    property test checks that both give the same bits.
    """
    a, b, t = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64))
    straddle = ((a <= 0.0) & (b >= 0.0)) | ((a >= 0.0) & (b <= 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        mixed = t * b + (1.0 - t) * a
        x = a + t * (b - a)
    same = np.where(b > a, np.minimum(b, x), np.maximum(b, x))
    return np.where(straddle, mixed, np.where(t == 1.0, b, same))
