"""`paramsched demo [--out DIR] [--steps N]`: what `make demo` runs."""

from __future__ import annotations

import argparse

from paramsched.cli._common import EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "demo", help="train a tiny model twice, record, replay, and compare",
        description="Train a tiny model twice (a baseline and an ablation that replays its lr), "
        "record to CSV (and MLflow / W&B offline when installed), then write the compare dashboard.",
    )
    p.add_argument("--out", default="paramsched-demo", help="output folder (default ./paramsched-demo)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default 400)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paramsched.demo import DEFAULT_STEPS, run_demo

    steps = DEFAULT_STEPS if args.steps is None else args.steps
    run_demo(args.out, steps=steps, quiet=args.quiet)
    return EXIT_OK
