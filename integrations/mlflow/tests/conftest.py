"""MLflow fixtures: an embedded ``sqlite:///`` store, and a REAL ``mlflow server`` for the session.

The server runs ``.venv/bin/mlflow server`` (SQLite backend, local artifact
destination) on a free 127.0.0.1 port in its own process group; it can be
killed and restarted on the same port with the same store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from paramsched.runformat import FORMAT, utc_now
from paramsched.testing import LoopbackProxy

SERIES_12 = [f"hp/{key}/{group}" for key in ("lr", "weight_decay", "betas.0") for group in ("g0", "g1", "head", "emb")]
# Values that break any path that is not exact: subnormals, the largest float,
# 17-digit decimals, big integers as floats.
AWKWARD = [0.1, 1 / 3, 5e-324, 1.7976931348623157e308, 2.0**-1074 * 3, 3e-4 * (1 - 1e-16), 1e22,
           123456789.123456789, 0.30000000000000004, 1e-300, 2.0**60 + 2.0**8]
STARTUP_TIMEOUT = float(os.environ.get("PARAMSCHED_TEST_MLFLOW_STARTUP", "90"))


def make_metadata(series: list[str] = SERIES_12, *, total_steps: int = 1000, resumed_from_step: int | None = None,
                  rank: int = 0, world_size: int = 1) -> dict[str, Any]:
    labels = list(dict.fromkeys(name.split("/", 2)[2] for name in series))
    return {
        "format": FORMAT,
        "paramsched_version": "0.1.0",
        "created_at": utc_now(),
        "total_steps": total_steps,
        "optimizer": "torch.optim.adamw.AdamW",
        "relative": False,
        "schedules": {"lr": {"type": "Cosine", "start": 0.001, "end": 0.0}, "weight_decay": {"type": "Constant", "value": 0.1}},
        "overrides": {"head": {"lr": {"type": "Constant", "value": 0.01}}},
        "groups": [{"index": i, "label": label, "base": {"lr": 0.001, "weight_decay": 0.1}} for i, label in enumerate(labels)],
        "series": list(series),
        "rank": rank,
        "world_size": world_size,
        "resumed_from_step": resumed_from_step,
    }


def row_values(step: int, series: list[str] = SERIES_12) -> dict[str, float]:
    if step < len(AWKWARD):
        return {name: AWKWARD[(step + i) % len(AWKWARD)] for i, name in enumerate(series)}
    return {name: (step + 1) / (3.0 + i) * 1e-3 + 1e-17 * i for i, name in enumerate(series)}


def read_back(client: Any, run_id: str, series: list[str] = SERIES_12) -> list[tuple[int, dict[str, float]]]:
    """Every value of the run, through MlflowClient.get_metric_history, as (step, {series: value})."""
    steps: dict[int, dict[str, float]] = {}
    for name in series:
        for metric in client.get_metric_history(run_id, name):
            steps.setdefault(metric.step, {})[name] = metric.value
    return [(step, {name: steps[step][name] for name in series if name in steps[step]}) for step in sorted(steps)]


def history_lengths(client: Any, run_id: str, series: list[str] = SERIES_12) -> dict[str, int]:
    return {name: len(client.get_metric_history(run_id, name)) for name in series}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite store; kill() and start() keep port and store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.store = f"sqlite:///{root / 'mlflow.db'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        mlflow_cli = Path(sys.executable).with_name("mlflow")
        log = open(self.root / f"server-{self.starts}.log", "wb")
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        # MLflow 3 also starts job-runner processes (huey) that take seconds of CPU; not needed here.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        self.proc = subprocess.Popen(
            [str(mlflow_cli), "server", "--backend-store-uri", self.store,
             "--artifacts-destination", str(self.root / "artifacts"),
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=self.root,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        self.kill()
        raise RuntimeError(f"mlflow server did not answer /health within {STARTUP_TIMEOUT} s; see {log.name}")

    def kill(self) -> None:
        """SIGKILL the whole server process group (no graceful shutdown)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


@pytest.fixture
def proxy(server):
    """127.0.0.1 port forwarder; stop() is a real outage (connections refused) without touching the server."""
    with LoopbackProxy(server.port) as forwarder:
        yield forwarder


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def server(mlflow_server):
    """The session server, restarted first if a test left it down."""
    if not mlflow_server.is_up():
        mlflow_server.kill()
        mlflow_server.start()
    return mlflow_server


@pytest.fixture(scope="session")
def sqlite_uri(tmp_path_factory):
    """One embedded store for the session (creating MLflow's tables takes seconds); each test makes its own runs."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-sqlite') / 'mlflow.db'}"


@pytest.fixture
def mh():
    """MLflow test helpers (test files cannot import conftest under --import-mode=importlib)."""
    return types.SimpleNamespace(
        SERIES_12=SERIES_12,
        AWKWARD=AWKWARD,
        make_metadata=make_metadata,
        row_values=row_values,
        read_back=read_back,
        history_lengths=history_lengths,
    )


@pytest.fixture(autouse=True)
def _no_global_mlflow_state(monkeypatch, tmp_path):
    """Tests never touch ./mlflow.db or ./mlruns, nor leave an active run behind."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
