"""Compare the schedules of recorded runs: one offline HTML page, or a PNG.

>>> import paramsched as ps
>>> ps.dashboard.compare(["runs/a", "runs/b"], out="compare.html", png="compare.png")  # doctest: +SKIP
PosixPath('compare.html')
"""

from paramsched.dashboard.compare import Comparison, build_comparison, compare
from paramsched.dashboard.downsample import keep_indices
from paramsched.dashboard.summary import Divergence, SeriesSummary, first_divergence, summarize

__all__ = [
    "Comparison",
    "Divergence",
    "SeriesSummary",
    "build_comparison",
    "compare",
    "first_divergence",
    "keep_indices",
    "summarize",
]
