"""Shared fixtures: the real wandb SDK in offline mode, nothing reaching the network."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramsched.naming import series_name
from paramsched.runformat import FORMAT

KEYS = ("lr", "weight_decay", "betas.0")
GROUPS = ("g0", "head", "blocks/0", "emb 1")
SERIES = [series_name(k, g) for k in KEYS for g in GROUPS]  # 12 series

# Values that a float64 round trip through JSON text could get wrong.
SPECIAL = [-0.0, 0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e-7, 0.1 + 0.2, 1e22, 1e21, 123456789.12345679]

STEP_WARNING = "monotonically increasing"

_ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "false",  # true would hide the warning of a dropped row (it is what we check)
    "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_X_DISABLE_STATS": "true",
    "WANDB_X_DISABLE_MACHINE_INFO": "true",
    "WANDB_X_SAVE_REQUIREMENTS": "false",
    "WANDB_DISABLE_JOB_CREATION": "true",
}
_UNSET = ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_BASE_URL", "WANDB_NAME", "WANDB_RUN_GROUP")


def _apply_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    import wandb

    # wandb caches its settings per process: an earlier test (of any package) that
    # touched wandb under other settings must not decide this one's mode or directory.
    wandb.teardown()
    for key, value in _ENV.items():
        mp.setenv(key, value)
    for key in _UNSET:
        mp.delenv(key, raising=False)
    for key, sub in (("WANDB_DIR", "runs"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        mp.setenv(key, os.fspath(root / sub))
    mp.setenv("HOME", os.fspath(root))  # no ~/.netrc, no user settings


@pytest.fixture
def wandb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Offline wandb writing under ``tmp_path/runs``; returns that directory."""
    _apply_env(monkeypatch, tmp_path)
    yield tmp_path / "runs"
    import wandb

    if wandb.run is not None:  # a failed test must not leak its run into the next one
        wandb.run.finish()
    wandb.teardown()  # wandb caches the environment's settings (WANDB_DIR...) per process


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Like ``wandb_env``, shared by the tests of one module (one wandb run costs ~0.5 s)."""
    root = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as mp:
        _apply_env(mp, root)
        yield root / "runs"
        import wandb

        wandb.teardown()


def values_at(step: int) -> dict[str, float]:
    """The 12 values of one step: ordinary floats, plus a special one now and then."""
    row = {}
    for i, name in enumerate(SERIES):
        value = 3e-4 * math.cos(0.37 * step + i) + 1e-3 * i
        if (step + i) % 7 == 0:
            value = SPECIAL[(step + i) // 7 % len(SPECIAL)]
        row[name] = value
    return row


def metadata(total_steps: int, **extra: Any) -> dict[str, Any]:
    doc = {
        "format": FORMAT,
        "paramsched_version": "0.1.0",
        "created_at": "2026-11-27T01:00:00+00:00",
        "total_steps": total_steps,
        "optimizer": "torch.optim.adamw.AdamW",
        "relative": False,
        "schedules": {"lr": {"type": "Cosine", "start": 0.001, "end": 0.0}},
        "overrides": {},
        "groups": [{"index": i, "label": g, "base": {"lr": 0.001 * (i + 1)}} for i, g in enumerate(GROUPS)],
        "series": list(SERIES),
        "rank": 0,
        "world_size": 1,
        "resumed_from_step": None,
    }
    doc.update(extra)
    return doc


def hp_rows(history: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """``{hp/step: {series: value}}`` from read-back history rows (later rows win)."""
    out: dict[int, dict[str, float]] = {}
    for row in history:
        if "hp/step" in row:
            out.setdefault(row["hp/step"], {}).update(
                {k: float(v) for k, v in row.items() if k.startswith("hp/") and k != "hp/step"}
            )
    return out


def same_floats(a: dict[str, float], b: dict[str, float]) -> bool:
    """``==`` on every value, and the sign of zeros too (bit-for-bit)."""
    return a == b and all(math.copysign(1.0, a[k]) == math.copysign(1.0, b[k]) for k in a)


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "wandb").glob("offline-run-*") if p.is_dir())


def run_dir_of(run: Any) -> Path:
    """The offline run directory of a live run (``run.dir`` is its ``files/``)."""
    return Path(run.dir).parent


def read_run(run_dir: Path, timeout: float = 10.0) -> Any:
    """``read_offline_run`` once wandb's core has written the exit record (a few ms after finish())."""
    import time
    import warnings

    from paramsched_wandb import read_offline_run

    deadline = time.monotonic() + timeout
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a file still being written may end inside a record
            run = read_offline_run(run_dir)
        if run.finished or time.monotonic() > deadline:
            assert run.finished, f"{run_dir}: no exit record after {timeout} s"
            assert not run.truncated
            return run
        time.sleep(0.005)


def console_text(run_dir: Path) -> str:
    log = run_dir / "files" / "output.log"
    return log.read_text(errors="replace") if log.exists() else ""


@pytest.fixture(scope="session")
def h() -> Any:
    """The helpers above, for test modules (importlib import mode cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        SERIES=SERIES,
        SPECIAL=SPECIAL,
        STEP_WARNING=STEP_WARNING,
        values_at=values_at,
        metadata=metadata,
        hp_rows=hp_rows,
        same_floats=same_floats,
        run_dirs=run_dirs,
        run_dir_of=run_dir_of,
        console_text=console_text,
        read_run=read_run,
    )
