"""Compare two trajectories series by series: where do they first diverge?

>>> import pandas as pd
>>> from paramsched.replay.trajectory import Trajectory
>>> a = Trajectory.from_wide(pd.DataFrame({"step": [0, 1, 2], "hp/lr/g0": [0.1, 0.2, 0.3]}))
>>> b = Trajectory.from_wide(pd.DataFrame({"step": [0, 1, 2], "hp/lr/g0": [0.1, 0.2, 0.4]}))
>>> row = diff(a, b).loc["hp/lr/g0"]
>>> row["status"], row["first_diverging_step"]
('differs', 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from paramsched.checks import describe

if TYPE_CHECKING:
    from paramsched.replay.trajectory import Trajectory

__all__ = ["diff", "DIFF_COLUMNS"]

DIFF_COLUMNS = (
    "status", "first_diverging_step", "left_value", "right_value", "max_abs_diff", "steps_compared", "event",
)


def diff(left: Trajectory, right: Trajectory) -> pd.DataFrame:
    """One row per series (index ``series``: left's series, then right-only ones).

    Values are compared with ``==`` over the union of both step sets; a step
    logged in one and not the other is a divergence, a step logged in neither
    is not. Columns:

    - ``status``: ``"equal"``, ``"differs"``, ``"only_left"`` or ``"only_right"``;
    - ``first_diverging_step``: the first step that differs (an int), or ``None``;
    - ``left_value`` / ``right_value``: the values there (NaN = not logged);
    - ``max_abs_diff``: the largest ``|left - right|`` over steps logged in
      both (NaN when there are none);
    - ``steps_compared``: how many steps are logged in both;
    - ``event``: the event of either run at the first diverging step (an
      intervention, drift, a policy decision: ``"right: intervention at step
      500 (loss spike)"``), or ``None``.

    ``table.attrs["notes"]`` repeats what either run's notes say about
    precision (a float32 log, e.g. TensorBoard's default ``add_scalar``): such
    a run is compared with ``==`` like any other, and differs from the float64
    run it logged by float32 rounding, which the note says.
    """
    from paramsched.replay.trajectory import Trajectory

    for name, value in (("left", left), ("right", right)):
        if not isinstance(value, Trajectory):
            raise TypeError(f"{name} must be a Trajectory, got {name}={describe(value)}")
    rows = {}
    right_names = set(right.series)
    left_names = set(left.series)
    for name in left.series:
        if name not in right_names:
            rows[name] = _only("only_left")
        else:
            rows[name] = _compare(left.frame[name], right.frame[name])
    for name in right.series:
        if name not in left_names:
            rows[name] = _only("only_right")
    for name, row in rows.items():
        step = row["first_diverging_step"]
        if step is not None:
            row["event"] = _event_at(left, right, name, step)
    index = pd.Index(list(rows), name="series", dtype=object)
    data = {
        column: pd.Series([row[column] for row in rows.values()], index=index, dtype=dtype)
        for column, dtype in zip(
            DIFF_COLUMNS, (object, object, np.float64, np.float64, np.float64, np.int64, object), strict=True
        )
    }
    table = pd.DataFrame(data, index=index)
    table.attrs["notes"] = [
        f"{side}: {note}" for side, traj in (("left", left), ("right", right)) for note in traj.notes if "float32" in note
    ]
    return table


def _only(status: str) -> dict[str, object]:
    return {
        "status": status,
        "first_diverging_step": None,
        "left_value": np.nan,
        "right_value": np.nan,
        "max_abs_diff": np.nan,
        "steps_compared": 0,
        "event": None,
    }


def _compare(a: pd.Series, b: pd.Series) -> dict[str, object]:
    a = a.dropna()
    b = b.dropna()
    steps = a.index.union(b.index)
    va = a.reindex(steps).to_numpy()
    vb = b.reindex(steps).to_numpy()
    both = ~np.isnan(va) & ~np.isnan(vb)
    same = (va == vb) | (np.isnan(va) & np.isnan(vb))
    max_abs = float(np.max(np.abs(va[both] - vb[both]))) if both.any() else float("nan")
    if same.all():
        first, left_value, right_value, status = None, np.nan, np.nan, "equal"
    else:
        i = int(np.argmax(~same))
        first, left_value, right_value, status = int(steps[i]), float(va[i]), float(vb[i]), "differs"
    return {
        "status": status,
        "first_diverging_step": first,
        "left_value": left_value,
        "right_value": right_value,
        "max_abs_diff": max_abs,
        "steps_compared": int(both.sum()),
        "event": None,
    }


def _event_at(left: Trajectory, right: Trajectory, series: str, step: int) -> str | None:
    """The first event of either run on ``series`` (or on every series) at ``step``, in words."""
    for side, traj in (("left", left), ("right", right)):
        for event in traj.events:
            if event["step"] == step and event["series"] in (series, None):
                reason = f" ({event['reason']})" if event["reason"] else ""
                return f"{side}: {event['kind']} at step {step}{reason}"
    return None
