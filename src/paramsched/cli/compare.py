"""`paramsched compare SRC... -o compare.html [--png compare.png]`: the compare dashboard."""

from __future__ import annotations

import argparse

from paramsched.cli._common import EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``compare`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "compare", help="compare the schedules of several runs (HTML / PNG)",
        description="Write one self-contained HTML page comparing the runs (any replay source: "
        "CSV run dirs, mlflow://RUN_ID, W&B runs, foreign logs with --keymap).",
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="runs to compare; the first is the reference")
    p.add_argument("-o", "--out", required=True, help="the HTML file to write (a .png name writes a PNG)")
    p.add_argument("--by", choices=("step", "fraction"), default="step", help="initial x axis")
    p.add_argument("--png", help="also write the comparison as a PNG image")
    p.add_argument(
        "--keymap", choices=("lightning", "hf"),
        help="read foreign logs (Lightning metrics.csv, HF logs) with this key map; "
        "paramsched runs are read as they are",
    )
    p.add_argument("--reference", default="0", help="the reference run: its index or name (default 0)")
    p.add_argument("--title", help="page title")
    p.add_argument("--max-points", type=int, default=2000, help="points drawn per line (default 2000)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paramsched.dashboard import compare

    reference: int | str = int(args.reference) if args.reference.isdigit() else args.reference
    path = compare(
        list(args.sources), args.out, by=args.by, reference=reference, png=args.png,
        keymap=args.keymap, title=args.title, max_points=args.max_points,
        progress=False if args.quiet else None,
    )
    print(f"wrote {path}")
    if args.png:
        print(f"wrote {args.png}")
    return EXIT_OK
