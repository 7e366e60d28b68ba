"""`DataFrameSource`: a pandas DataFrame in long or wide form.

- long: columns ``step, key, group, value`` (one row per value);
- wide: a ``step`` column (or an index named ``step``) and one column per
  series ``hp/<key>/<group>``, or any columns read through ``keymap=``.

Both sort steps, keep the last row of a duplicated step, treat NaN as "not
logged" and reject non-numeric or non-finite values, naming series and step.

>>> import pandas as pd
>>> long = pd.DataFrame({"step": [0, 1], "key": ["lr", "lr"], "group": ["g0", "g0"], "value": [0.1, 0.2]})
>>> DataFrameSource().load(long).frame["hp/lr/g0"].tolist()
[0.1, 0.2]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from paramsched.checks import describe
from paramsched.replay.sources import Source
from paramsched.replay.trajectory import Trajectory

__all__ = ["DataFrameSource"]

_LONG = {"step", "key", "group", "value"}


class DataFrameSource(Source):
    """Read a pandas DataFrame (long ``step, key, group, value`` or wide)."""

    name = "dataframe"
    accepts = "a pandas DataFrame, long (step, key, group, value) or wide (step + hp/<key>/<group> columns)"

    def claims(self, obj: Any) -> bool:
        return isinstance(obj, pd.DataFrame)

    def load(
        self,
        obj: pd.DataFrame,
        *,
        keymap: Any = None,
        step_column: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> Trajectory:
        """Read ``obj``; ``source`` names it in error messages (default ``"DataFrame"``)."""
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"the dataframe source reads a pandas DataFrame, got {describe(obj)}")
        label = source or "DataFrame"
        columns = {str(c) for c in obj.columns}
        if _LONG <= columns and not any(c.startswith("hp/") for c in columns):
            if keymap is not None or step_column is not None:
                raise ValueError(
                    f"{label}: a long table (step, key, group, value) names its series already; "
                    "keymap= and step_column= apply to wide tables only"
                )
            return Trajectory.from_long(obj, metadata, label)
        return Trajectory.from_wide(obj, metadata, label, keymap=keymap, step_column=step_column)
