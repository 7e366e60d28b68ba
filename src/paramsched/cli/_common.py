"""What every ``paramsched`` command shares: exit codes, the user-error type, loading a source."""

from __future__ import annotations

import json
from typing import Any

from paramsched._registry import BackendNotInstalledError

PROG = "paramsched"
EXIT_OK, EXIT_DIFFERS, EXIT_USAGE = 0, 1, 2
# The exceptions the library raises for bad input or an unreachable backend.
USER_ERRORS = (
    ValueError, TypeError, LookupError, FileNotFoundError, BackendNotInstalledError,
    OSError, json.JSONDecodeError,
)


class UserError(Exception):
    """A mistake in the command line itself, found after argparse."""


def load_source(source: str, keymap: Any) -> Any:
    """Read a run named on the command line (see ``dashboard.compare.load_source``)."""
    from paramsched.dashboard.compare import load_source as load

    return load(source, keymap)
