"""Pick the points of a long series worth drawing, keeping every change point.

Drawing 100k steps x dozens of series makes a browser crawl, so each trace
is thinned before plotting (never before computing the summary table). The
points kept are

* the first and the last point,
* every *corner*: a point where the second difference is nonzero (beyond
  float rounding), i.e. where a piecewise-linear or piecewise-constant
  schedule changes slope or jumps. Straight lines between kept corners
  reproduce such a schedule exactly;
* any points the caller forces (``extra``),
* a uniform subsample filling the rest of the budget, for curved segments.

When a smooth curve (a cosine) makes every point a "corner", the corners
with the largest second difference win: true kinks (end of warmup, start of
decay, a jump) have a second difference orders of magnitude above the
curvature of a smooth segment.

>>> import numpy as np
>>> y = np.minimum(np.arange(10_000) / 100, 1.0)        # linear warmup, then flat
>>> idx = keep_indices(y, max_points=50)
>>> 100 in idx and len(idx) <= 50
True
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from paramsched.checks import check_positive_int

DEFAULT_MAX_POINTS = 2000
# Second differences below this fraction of the series' scale are float rounding.
_RELATIVE_TOLERANCE = 1e-12


def corner_indices(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices where the second difference is nonzero, with its size (for ranking).

    >>> corner_indices(np.array([0.0, 1.0, 2.0, 2.0, 2.0]))[0].tolist()
    [2]
    """
    y = np.asarray(values, dtype=np.float64)
    if y.size < 3:
        return np.empty(0, dtype=np.int64), np.empty(0)
    scale = float(np.max(np.abs(y)))
    second = np.abs(np.diff(y, n=2))
    tolerance = _RELATIVE_TOLERANCE * scale if scale > 0 else 0.0
    where = np.nonzero(second > tolerance)[0]
    return where + 1, second[where]


def keep_indices(
    values: np.ndarray, max_points: int = DEFAULT_MAX_POINTS, *, extra: Iterable[int] = ()
) -> np.ndarray:
    """Sorted indices into ``values`` to draw: at most ``max_points`` plus the ``extra`` ones.

    Every index is kept when the series is no longer than ``max_points``.
    """
    check_positive_int("max_points", max_points, minimum=4)
    y = np.asarray(values, dtype=np.float64)
    n = int(y.size)
    forced = np.asarray(sorted({int(i) for i in extra if 0 <= int(i) < n}), dtype=np.int64)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    corners, size = corner_indices(y)
    corner_budget = max_points // 2 - 2
    if corners.size > corner_budget:
        # Largest second differences first; ties broken by position so the choice is stable.
        order = np.lexsort((corners, -size))[:corner_budget]
        corners = corners[order]
    kept = np.union1d(np.array([0, n - 1], dtype=np.int64), corners)
    room = max_points - kept.size
    if room > 0:
        uniform = np.unique(np.round(np.linspace(0, n - 1, room)).astype(np.int64))
        kept = np.union1d(kept, uniform)
    return np.union1d(kept, forced)
