"""Smoke check: every benchmark script runs to the end in its --quick mode.

The benchmarks print ratios against their peers; they are not timed tests, so
this only checks that they run and print their comparison lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("bench_*.py"))


def test_there_are_benchmarks():
    assert BENCHMARKS


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_runs_in_quick_mode(script: Path, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    # each benchmark prints measurements with their unit ("3.2 us", "0.225 s") or ratios ("0.70x")
    assert re.search(r"\d+(\.\d+)?\s*(x|us|ns|ms|s)\b", result.stdout), result.stdout
