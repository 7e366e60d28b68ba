"""`paramsched spool list | send`: what the recorders could not deliver, and delivering it.

::

    paramsched spool list [--dir DIR]                 # every spool waiting, where it belongs
    paramsched spool send FILE... [--to URL]          # deliver (once: a second send sends nothing)

A network recorder that cannot reach its tracker keeps the values in a spool
file (default folder: ``<tmp>/paramsched-spool``) and names it in its warning.
``send`` delivers a spool to the run it belongs to (or to ``--to``, e.g.
``mlflow://RUN_ID?tracking_uri=http://host:5000``, or ``mlflow://?tracking_uri=...``
for a new run; ``wandb://ENTITY/PROJECT/RUN_ID``, or ``wandb://PROJECT?mode=offline&dir=PATH``
for a new W&B run), then marks it delivered; ``ps.replay.load(FILE)`` reads one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from paramsched.cli._common import EXIT_OK, UserError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``spool`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "spool", help="list or send the values a recorder could not deliver",
        description="Spools hold what a recorder could not deliver to its tracker. "
        "'list' shows them, 'send' delivers them (once).",
    )
    verbs = p.add_subparsers(dest="spool_command", required=True, metavar="ACTION")
    show = verbs.add_parser("list", help="show every spool, its tracker and whether it is delivered")
    show.add_argument("--dir", help="the spool folder (default: <tmp>/paramsched-spool)")
    show.set_defaults(func=run_list)
    send = verbs.add_parser("send", help="deliver spools to their tracker (a delivered one sends nothing)")
    send.add_argument("files", nargs="+", metavar="FILE")
    send.add_argument("--to", help="a destination URL instead of the spool's own run, e.g. "
                      "mlflow://RUN_ID?tracking_uri=URI or wandb://ENTITY/PROJECT/RUN_ID")
    send.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the tracker (default 300)")
    send.add_argument("--force", action="store_true", help="send even while the process that wrote it still runs")
    send.set_defaults(func=run_send)


def run_list(args: argparse.Namespace) -> int:
    from paramsched.recording.background import default_spool_dir, list_spools

    folder = Path(args.dir) if args.dir else default_spool_dir()
    if args.dir and not folder.is_dir():
        raise FileNotFoundError(f"no spool folder at {os.fspath(folder)!r}")
    spools = list_spools(folder)
    if not spools:
        print(f"no spools in {folder}")
        return EXIT_OK
    waiting = 0
    for spool in spools:
        counts = spool.counts()
        what = f"{counts['rows']} rows, {counts['events']} events, {counts['metrics']} metrics rows"
        if spool.delivered is not None:
            status = f"delivered to {spool.delivered.get('to')} at {spool.delivered.get('at')}"
        elif _writer_alive(spool.header):
            status = f"in use: process {spool.header.get('pid')} is still recording (it sends it itself)"
        else:
            waiting += 1
            status = f"waiting: paramsched spool send {spool.path}"
        print(f"{spool.path}\n  {spool.backend or 'unknown'} -> {_destination(spool)}; {what}; {status}")
    print(f"{len(spools)} spool(s) in {folder}, {waiting} waiting to be sent")
    return EXIT_OK


def run_send(args: argparse.Namespace) -> int:
    from paramsched.recording.background import read_spool_file, resend_spool
    from paramsched.recording.errors import RecorderError

    for name in args.files:
        if not os.path.isfile(name):
            raise FileNotFoundError(f"no spool at {name!r}")
        spool = read_spool_file(name)
        if spool.delivered is None and _writer_alive(spool.header) and not args.force:
            raise UserError(
                f"{name} is still being written by process {spool.header.get('pid')}, which delivers it "
                "itself when its tracker is back; wait for it to end, or pass --force"
            )
        try:
            result = resend_spool(name, args.to, close_timeout=args.timeout)
        except RecorderError as exc:
            raise UserError(f"could not send {name}: {exc}; the spool is unchanged") from exc
        counts = f"{result['rows']} rows, {result['events']} events, {result['metrics']} metrics rows"
        if result["sent"]:
            print(f"sent {name}: {counts} to {result['to']}")
        else:
            print(f"nothing sent from {name}: {result['reason']}")
    return EXIT_OK


def _destination(spool: Any) -> str:
    from paramsched.recording.registry import RECORDERS

    target = spool.target
    try:
        describe = getattr(RECORDERS.get(spool.backend or ""), "spool_destination", None)
    except (ImportError, ValueError):
        describe = None
    if describe is not None:
        try:
            return str(describe(target))
        except Exception:  # an unexpected target shape: show it as it is
            pass
    return ", ".join(f"{k}={v}" for k, v in target.items() if v not in (None, "", {})) or "(no destination recorded)"


def _writer_alive(header: dict[str, Any]) -> bool:
    """True when the process that wrote the spool still runs (on this machine), and is not us."""
    pid = header.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
