"""Shared helpers for the replay tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from paramsched.runformat import FORMAT
from paramsched.testing import AWKWARD_FLOATS


def write_run(folder: Path, text: str, metadata: dict | None = None) -> Path:
    """Write ``values.csv`` (exactly ``text``) and, if given, ``run.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "values.csv").write_bytes(text.encode())
    if metadata is not None:
        (folder / "run.json").write_text(json.dumps(metadata))
    return folder


def minimal_metadata(series: list[str], **extra) -> dict:
    return {"format": FORMAT, "series": series, **extra}


def random_float64(n: int, seed: int = 0) -> np.ndarray:
    """Finite float64 values of every magnitude, subnormals and awkward decimals included."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**64, size=4 * n, dtype=np.uint64).view(np.float64)
    bits = bits[np.isfinite(bits)][:n]
    special = np.array([*AWKWARD_FLOATS, 2 / 3, 1e-4 * 3, 3e-4])
    rest = np.concatenate([rng.random(n), 10.0 ** rng.uniform(-320, 308, n), np.nextafter(rng.random(n), 2.0), bits])
    return np.concatenate([special, rng.permutation(rest)])[:n]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "a"


@pytest.fixture
def make_run():
    """``make_run(folder, text, metadata=None)`` writes a CSV run by hand."""
    return write_run


@pytest.fixture
def floats():
    """``floats(n, seed=0)``: awkward finite float64 values (see ``random_float64``)."""
    return random_float64


@pytest.fixture
def meta():
    """``meta(series, **extra)``: the smallest valid run metadata document."""
    return minimal_metadata
