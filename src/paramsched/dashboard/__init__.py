"""Compare recorded runs: one offline HTML page, or a PNG.

``compare`` loads the runs and builds the model (``model.py``: runs, series,
metrics, events, families of branched runs); ``html.py`` (with ``figure.py``)
and ``png.py`` draw it.

>>> import paramsched as ps
>>> ps.dashboard.compare(["runs/a", "runs/b"], out="compare.html", png="compare.png")  # doctest: +SKIP
PosixPath('compare.html')
"""

from paramsched.dashboard.compare import build_comparison, compare
from paramsched.dashboard.downsample import keep_indices
from paramsched.dashboard.model import Branch, Comparison, Family, MetricData, RunData, SeriesData
from paramsched.dashboard.summary import Divergence, SeriesSummary, first_divergence, summarize

__all__ = [
    "Branch",
    "Comparison",
    "Divergence",
    "Family",
    "MetricData",
    "RunData",
    "SeriesData",
    "SeriesSummary",
    "build_comparison",
    "compare",
    "first_divergence",
    "keep_indices",
    "summarize",
]
