"""The one progress-bar helper: a tqdm bar on a terminal, the plain items everywhere else.

>>> list(progress(range(3), desc="runs", unit="run", enabled=False))
[0, 1, 2]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], *, desc: str, unit: str, enabled: bool | None = None, leave: bool = False
) -> Iterable[T]:
    """``items`` wrapped in a tqdm bar when ``enabled`` (``None``: when stderr is a terminal).

    Without tqdm installed the items come back as they are: a bar is a
    courtesy, never a requirement.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit=unit, leave=leave)
