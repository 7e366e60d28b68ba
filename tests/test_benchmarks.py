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


@pytest.mark.slow
def test_the_overhead_benchmark_takes_a_background_workers_cpu_over_its_solo_window(tmp_path: Path):
    # The worker column is what the overhead targets add to the loop's slowdown for a recorder
    # with a background thread: it must hold a number, not "-", for such a backend.
    pytest.importorskip("paramsched_mlflow")
    pytest.importorskip("lightning")
    script = next(p for p in BENCHMARKS if p.stem == "bench_overhead")
    result = subprocess.run(
        [sys.executable, str(script), "--backends", "mlflow-sqlite", "--steps", "200", "--block", "50",
         "--repeat", "1", "--solo", "300"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("mlflow-sqlite"))
    assert re.search(r"\s\d+\.\dus \d+\.\d\d%\s", line), line
    assert "overhead<=2%" in line and "close<=2s OK" in line, line
    assert re.search(r"floor.*close s", result.stdout), result.stdout  # the do-nothing recorder's column
