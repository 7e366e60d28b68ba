"""The ``paramsched`` command: one module per verb, each adding its own sub-parser.

::

    paramsched preview SPEC.json --steps 1000 [-o out.png|out.html]
    paramsched compare runs/a runs/b mlflow://RUN_ID -o compare.html [--by fraction] [--png compare.png]
    paramsched diff runs/a runs/b            # exit 1 when any series differs
    paramsched export mlflow://RUN_ID -o runs/copy
    paramsched demo [--out paramsched-demo] [--steps 300]

A user mistake (a missing path, an unknown run id, an unreachable server, a
bad spec) prints one line ``paramsched: error: ...`` on stderr and exits
with code 2; tracebacks are for bugs only. A new verb is a module here with
``add_parser(commands)`` (its sub-parser sets ``func``), listed in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Sequence

from paramsched.cli import branch, compare, demo, diff, export, intervene, preview, spool
from paramsched.cli._common import EXIT_DIFFERS, EXIT_OK, EXIT_USAGE, PROG, USER_ERRORS, UserError

__all__ = ["EXIT_DIFFERS", "EXIT_OK", "EXIT_USAGE", "PROG", "UserError", "build_parser", "main"]

COMMANDS = (preview, compare, diff, export, demo, intervene, branch, spool)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (UserError, *USER_ERRORS) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])  # str(KeyError) adds quotes
    return " ".join(text.split())


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line told in one line (no usage block)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``paramsched`` command."""
    from paramsched import __version__

    parser = _Parser(
        prog=PROG,
        description="Schedule, record, replay and compare optimizer hyperparameters.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
