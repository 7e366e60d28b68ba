"""The error a recorder raises when its backend fails and ``on_error="raise"``."""

from __future__ import annotations


class RecorderError(RuntimeError):
    """A recorder's backend (a file, a tracking server) failed.

    ``backend`` names the recorder (``"csv"``, ``"mlflow"``, ...); the original
    exception is chained as ``__cause__``; ``spool_path`` is the local file that
    keeps the values not yet sent, when there is one.

    >>> err = RecorderError("mlflow", "server unreachable")
    >>> str(err), err.backend
    ('mlflow recorder: server unreachable', 'mlflow')
    """

    def __init__(self, backend: str, message: str, *, spool_path: str | None = None) -> None:
        super().__init__(f"{backend} recorder: {message}")
        self.backend = backend
        self.spool_path = spool_path
