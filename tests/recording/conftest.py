"""Fixtures for recorder tests: a real local TCP sink that can be stopped and restarted.

The metadata, row and series helpers come from :mod:`paramsched.testing`.

``TcpRecorder`` is a genuine network backend: each ``_send`` opens a TCP
connection to 127.0.0.1, writes one JSON line and waits for ``ok``. Stopping
the sink makes the next send fail with a real ``ConnectionRefusedError``.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

from paramsched.recording import BackgroundRecorder
from paramsched.testing import SERIES_12, make_metadata, row_values


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        if not line:
            return
        rows = json.loads(line)["rows"]
        sink: TcpSink = self.server.sink  # type: ignore[attr-defined]
        with sink.lock:
            sink.batches.append(sum(len(values) for _, values in rows))
            sink.rows.extend((step, values) for step, values in rows)
        self.wfile.write(b"ok\n")


class TcpSink:
    """A tracking 'server' on 127.0.0.1 that keeps every row it receives, across restarts."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.batches: list[int] = []
        self.lock = threading.Lock()
        self.port = 0
        self._server: socketserver.TCPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        socketserver.TCPServer.allow_reuse_address = True
        server = socketserver.TCPServer(("127.0.0.1", self.port), _Handler)
        server.sink = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self) -> list[tuple[int, dict[str, float]]]:
        with self.lock:
            return list(self.rows)


class TcpRecorder(BackgroundRecorder):
    """A real network backend for tests: one JSON line per batch over TCP."""

    name = "tcp"

    def __init__(self, port: int, **options: Any) -> None:
        super().__init__(**options)
        self.port = port
        self.sent_batches: list[int] = []
        self.closed_backend = False

    def _open(self, metadata: dict[str, Any]) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass  # reachable

    def _send(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(json.dumps({"rows": rows}).encode() + b"\n")
            conn.settimeout(5)
            reply = conn.makefile("rb").readline()
        if reply != b"ok\n":
            raise ConnectionError(f"tcp sink answered {reply!r}")
        self.sent_batches.append(sum(len(values) for _, values in rows))

    def _close_backend(self) -> None:
        self.closed_backend = True


@pytest.fixture
def sink():
    server = TcpSink()
    server.start()
    yield server
    server.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def rh():
    """Recorder test helpers (test files cannot import conftest under --import-mode=importlib)."""
    return types.SimpleNamespace(
        make_metadata=make_metadata,
        row_values=row_values,
        SERIES_12=SERIES_12,
        TcpRecorder=TcpRecorder,
        TcpSink=TcpSink,
        wait_until=wait_until,
    )
