"""`LoopbackProxy`: a real outage for a network backend, without touching its server.

Put the proxy between the recorder and a server on 127.0.0.1; ``stop()``
closes the port (new connections are refused) and cuts the open ones,
``start()`` listens on the same port again. A :class:`RecorderBackend`
adapter implements ``outage`` / ``restore`` with them.

>>> import socket, socketserver, threading
>>> class Echo(socketserver.StreamRequestHandler):
...     def handle(self): self.wfile.write(self.rfile.readline())
>>> server = socketserver.TCPServer(("127.0.0.1", 0), Echo)
>>> _ = threading.Thread(target=server.serve_forever, daemon=True).start()
>>> proxy = LoopbackProxy(server.server_address[1]).start()
>>> with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as conn:
...     conn.sendall(b"hi\\n"); conn.makefile("rb").readline()
b'hi\\n'
>>> proxy.stop()
>>> socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
Traceback (most recent call last):
...
ConnectionRefusedError: [Errno 111] Connection refused
>>> proxy.start().port == proxy.port; proxy.stop(); server.shutdown(); server.server_close()
True
"""

from __future__ import annotations

import socket
import threading

from paramsched.checks import check_positive_int

__all__ = ["LoopbackProxy"]


class LoopbackProxy:
    """Forward ``127.0.0.1:<port>`` to ``127.0.0.1:<upstream_port>``; stop and start at will.

    Args:
        upstream_port: the port of the real server.
        port: the port to listen on (default 0: a free one, kept across restarts).
    """

    def __init__(self, upstream_port: int, *, port: int = 0) -> None:
        self.upstream_port = check_positive_int("upstream_port", upstream_port)
        self.port = check_positive_int("port", port, minimum=0)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> LoopbackProxy:
        """Listen (on the same port as before, after a ``stop()``); returns the proxy."""
        if self._listener is not None:
            return self
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), name="loopback-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port and cut every open connection (both ends see a reset or EOF)."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            _close(conn)

    def __enter__(self) -> LoopbackProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LoopbackProxy(127.0.0.1:{self.port} -> 127.0.0.1:{self.upstream_port}, {state})"


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
