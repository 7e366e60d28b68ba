"""`paramsched compare SRC... -o compare.html [--metric loss] [--png compare.png]`: the dashboard."""

from __future__ import annotations

import argparse
import sys

from paramsched.cli._common import EXIT_OK, UserError, add_keymap_argument, load_runs


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``compare`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "compare", help="compare the schedules of several runs (HTML / PNG)",
        description="Write one self-contained HTML page comparing the runs (any replay source: "
        "CSV run dirs, mlflow://RUN_ID, W&B runs, HF and Lightning logs with a key map): the "
        "hyperparameters, the training metrics named with --metric, the runs' events, and the lineage view when some "
        "runs are branches of another. Notes (e.g. a planned curve that could not be rebuilt) go to "
        "stderr; they do not change the exit code.",
    )
    p.add_argument(
        "sources", nargs="+", metavar="SRC",
        help="runs to compare (KEYMAP:SRC or SRC#keymap=NAME for a foreign log); the first is the reference",
    )
    p.add_argument("-o", "--out", required=True, help="the file to write: .html (or .png for the image only)")
    p.add_argument("--by", choices=("step", "fraction"), default="step", help="initial x axis")
    p.add_argument("--png", help="also write the comparison as a PNG image (a .png file)")
    p.add_argument(
        "--metric", action="append", default=[], metavar="NAME",
        help="a training metric the runs logged (loss, val_loss, ...), drawn under the "
        "hyperparameters; repeat for more",
    )
    p.add_argument(
        "--lineage", action=argparse.BooleanOptionalAction, default=None,
        help="draw the lineage view (parent and branches); default: when the runs hold a family",
    )
    add_keymap_argument(p)
    p.add_argument("--reference", default="0", help="the reference run: its index or name (default 0)")
    p.add_argument("--title", help="page title")
    p.add_argument("--max-points", type=int, default=2000, help="points drawn per line (default 2000)")
    p.add_argument(
        "--trust-function", action="append", default=[], metavar="MODULE:NAME",
        help="a FunctionSchedule the logs name that may be imported to draw its planned curve "
        "(never done otherwise); repeat for more",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paramsched.dashboard.compare import build_comparison, check_outputs, write

    reference: int | str = int(args.reference) if args.reference.isdigit() else args.reference
    out, png = check_outputs(args.out, args.png, names=("-o", "--png"))
    if args.max_points < 4:
        raise UserError(f"--max-points must be an int >= 4, got --max-points {args.max_points}")
    comparison = build_comparison(
        load_runs(args.sources, args.keymap), reference=reference, title=args.title,
        progress=False if args.quiet else None, metrics=args.metric, lineage=args.lineage,
        trust_functions=list(args.trust_function) or False,
    )
    written = write(comparison, out, png=png, by=args.by, max_points=args.max_points)
    for note in comparison.notes:
        print(f"note: {note}", file=sys.stderr)
    if any("function schedule" in note for note in comparison.notes):
        print(
            "note: a FunctionSchedule named in a log is never imported; to draw its planned curve, "
            "pass --trust-function MODULE:NAME for a function you trust", file=sys.stderr,
        )
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK
