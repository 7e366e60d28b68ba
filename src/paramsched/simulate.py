"""`simulate`: every value a set of schedules would apply, without an optimizer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from paramsched import _plan
from paramsched.checks import check_positive_int, describe
from paramsched.targets import group_labels, read_target


def simulate(
    schedules: Mapping[Any, Any],
    total_steps: int,
    *,
    groups: int | Sequence[str | Mapping[str, Any]] = 1,
    overrides: Mapping[Any, Mapping[str, Any]] | None = None,
    relative: bool = False,
) -> pd.DataFrame:
    """The values of every series at every step, as ``ParamScheduler`` would apply them.

    ``schedules`` and ``overrides`` take the same forms as in ``ParamScheduler``
    and are validated the same way. ``groups`` is a group count, a list of group
    names, or a list of param-group-like dicts (``{"name": "head", "lr": 1e-3}``)
    whose values are the bases when ``relative=True``.

    Returns a DataFrame indexed by ``step`` (0..total_steps-1) with one float64
    column per series ``hp/<key>/<group>``; ``.plot()`` draws it with matplotlib.

    >>> import paramsched as ps
    >>> df = ps.simulate({"lr": ps.Linear(1.0, 0.0)}, total_steps=4)
    >>> df["hp/lr/g0"].tolist()
    [1.0, 0.75, 0.5, 0.25]
    """
    total_steps = check_positive_int("total_steps", total_steps)
    group_dicts = _group_dicts(groups, relative)
    labels = group_labels(group_dicts)
    # Keys are checked against the groups when the groups say what they hold.
    check_keys = any(set(group) - {"name"} for group in group_dicts)
    plan = _plan.build_plan(schedules, overrides, group_dicts, labels, check_keys=check_keys)
    bases = None
    if relative:
        bases = [float(read_target(e.target, group_dicts[e.group_index])) for e in plan]
    _plan.check_plan(plan, total_steps, bases)
    rows = [_plan.evaluate(plan, k, total_steps, bases) for k in range(total_steps)]
    matrix = np.asarray(rows, dtype=np.float64).reshape(total_steps, len(plan))
    columns = {entry.series: matrix[:, i] for i, entry in enumerate(plan)}
    return pd.DataFrame(columns, index=pd.RangeIndex(total_steps, name="step"))


def _group_dicts(groups: Any, relative: bool) -> list[dict[str, Any]]:
    if isinstance(groups, bool):
        raise TypeError(f"groups must be a count, a list of names or a list of dicts, got groups={describe(groups)}")
    if isinstance(groups, int):
        check_positive_int("groups", groups)
        result: list[dict[str, Any]] = [{} for _ in range(groups)]
    elif isinstance(groups, Sequence) and not isinstance(groups, str) and groups:
        result = []
        for i, group in enumerate(groups):
            if isinstance(group, str):
                result.append({"name": group})
            elif isinstance(group, Mapping):
                result.append(dict(group))
            else:
                raise TypeError(f"groups[{i}] must be a name or a dict, got {describe(group)}")
    else:
        raise TypeError(f"groups must be a count, a list of names or a list of dicts, got groups={describe(groups)}")
    if relative and not all(set(group) - {"name"} for group in result):
        raise ValueError(
            "relative=True needs each group's base values: pass groups as dicts such as "
            f"[{{'lr': 1e-3}}], got groups={describe(groups)}"
        )
    return result
