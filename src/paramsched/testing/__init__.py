"""Test helpers and contract suites for recorders and replay sources (public).

A backend author gets paramsched's own test suite with one import: write an
adapter (:class:`RecorderBackend` / :class:`SourceBackend`) and subclass the
contracts in a pytest module (see ``docs/testing.md``)::

    import pytest
    from paramsched.testing import CsvBackend, RecorderContract

    class TestCsvRecorder(RecorderContract):
        @pytest.fixture
        def backend(self, tmp_path):
            return CsvBackend(tmp_path / "run")

The helpers: :func:`make_metadata`, :func:`row_values`, :data:`SERIES_12`,
:data:`AWKWARD_FLOATS`, :class:`ListRecorder` (an in-memory recorder),
:func:`schedule_examples` (one example per registered schedule type) and
:class:`LoopbackProxy` (a real outage for a network backend) and
:class:`FullDiskOutage` (a real full disk for a backend writing one file).

``import paramsched.testing`` does not import pytest: only
:class:`RecorderContract`, :class:`SourceContract` and :func:`known_failure`
need it, and they are loaded the first time they are used.

>>> from paramsched.testing import ListRecorder, make_metadata, row_values
>>> rec = ListRecorder()
>>> rec.start(make_metadata(["hp/lr/g0"])); rec.record(0, row_values(0, ["hp/lr/g0"])); rec.close()
>>> rec.rows
[(0, {'hp/lr/g0': 0.0003333333333333333})]
"""

from __future__ import annotations

from typing import Any

from paramsched.testing.backends import (
    CsvBackend,
    FullDiskOutage,
    ListBackend,
    RecorderBackend,
    SourceBackend,
    rows_trajectory,
)
from paramsched.testing.helpers import (
    AWKWARD_FLOATS,
    CONTRACT_SERIES,
    SERIES_12,
    Row,
    awkward_rows,
    make_metadata,
    metrics_rows,
    read_spooled_rows,
    record_log,
    row_values,
    rows_frame,
    same_floats,
    trajectory_rows,
)
from paramsched.testing.network import LoopbackProxy
from paramsched.testing.recorders import ListRecorder
from paramsched.testing.schedules import schedule_examples

__all__ = [
    "AWKWARD_FLOATS",
    "CONTRACT_SERIES",
    "SERIES_12",
    "CsvBackend",
    "FullDiskOutage",
    "ListBackend",
    "ListRecorder",
    "LoopbackProxy",
    "RecorderBackend",
    "RecorderContract",
    "Row",
    "SourceBackend",
    "SourceContract",
    "awkward_rows",
    "known_failure",
    "make_metadata",
    "metrics_rows",
    "read_spooled_rows",
    "record_log",
    "row_values",
    "rows_frame",
    "rows_trajectory",
    "same_floats",
    "schedule_examples",
    "trajectory_rows",
]

_CONTRACTS = ("RecorderContract", "SourceContract", "known_failure")


def __getattr__(name: str) -> Any:
    # The contract classes are pytest test classes: import pytest only when they are asked for.
    if name in _CONTRACTS:
        from paramsched.testing import contracts

        return getattr(contracts, name)
    raise AttributeError(f"module 'paramsched.testing' has no attribute {name!r}")
