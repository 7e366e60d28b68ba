"""`paramsched intervene RUN --set lr=1e-4 [--spec JSON] --reason "..."`: write a control file.

The run must have been started with ``ParamScheduler(..., control=<path>)``;
it applies the request at its next step boundary and acknowledges it in the
file (``applied_at_step``). ``RUN`` is the control file or a run directory
(its ``control.json``).
"""

from __future__ import annotations

import argparse
import json
import math

from paramsched.cli._common import EXIT_OK, UserError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``intervene`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "intervene", help="change a running schedule through its control file",
        description="Write a control request that a running ParamScheduler(..., control=PATH) applies "
        "at its next step boundary, as an intervention recorded in its log.",
    )
    p.add_argument("target", metavar="RUN", help="the control file, or a run directory (RUN/control.json)")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="KEY=NUMBER",
                   help="hold KEY (lr, or a series hp/<key>/<group>) at NUMBER from the next update on; repeatable")
    p.add_argument("--spec", help='schedule specs as JSON: \'{"lr": {"type": "Cosine", "start": 1e-4, "end": 0.0}}\'')
    p.add_argument("--reason", default="", help="why (kept in the run's events)")
    p.add_argument("--replace", action="store_true", help="replace a request the run has not applied yet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paramsched.control import control_path, write_request

    values = {}
    for item in args.set_values:
        key, sep, text = item.partition("=")
        try:
            number = float(text) if sep and key else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise UserError(f"--set must be KEY=NUMBER with a finite number, got {item!r}")
        values[key] = number
    specs = None
    if args.spec:
        try:
            specs = json.loads(args.spec)
        except json.JSONDecodeError as exc:
            raise UserError(f"--spec is not valid JSON: {exc}") from None
        if not isinstance(specs, dict):
            raise UserError(f"--spec must be a JSON object {{key: spec}}, got {args.spec!r}")
    if not values and not specs:
        raise UserError("nothing to change: give --set KEY=NUMBER or --spec JSON")
    write_request(args.target, set_values=values, specs=specs, reason=args.reason, replace=args.replace)
    print(f"wrote {control_path(args.target)}: applied by the run at its next step boundary")
    return EXIT_OK
