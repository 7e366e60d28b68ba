"""`paramsched demo [--out DIR] [--steps N]`: what `make demo` runs."""

from __future__ import annotations

import argparse

from paramsched.cli._common import EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "demo", help="train a stable phase, branch three cooldowns, record, and draw the lineage page",
        description="Train a tiny model's stable phase with checkpoints, branch three 1-sqrt "
        "cooldowns from them (ps.branch), record the four runs to CSV (and MLflow / W&B offline "
        "when installed), then write the lineage page with the loss panels.",
    )
    p.add_argument("--out", default="paramsched-demo", help="output folder (default ./paramsched-demo)")
    p.add_argument("--steps", type=int, default=None, help="steps of the stable run (default 300; the cooldowns are a fifth of it)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paramsched.demo import DEFAULT_STEPS, run_demo

    steps = DEFAULT_STEPS if args.steps is None else args.steps
    run_demo(args.out, steps=steps, quiet=args.quiet)
    return EXIT_OK
