"""`paramsched diff A B`: the first divergence per series (exit 1 when the runs differ)."""

from __future__ import annotations

import argparse

from paramsched.cli._common import (
    EXIT_DIFFERS,
    EXIT_OK,
    add_keymap_argument,
    load_runs,
    print_notes,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``diff`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "diff", help="first divergence per series between two runs (exit 1 when they differ)",
        description="Compare two runs series by series with ==. Exit code 0: identical; "
        "1: some series differ; 2: an error.",
    )
    p.add_argument("a", metavar="A", help="a run: any source, e.g. runs/a, hf:mlflow://RUN, log.csv#keymap=timm")
    p.add_argument("b", metavar="B")
    add_keymap_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from paramsched.replay import diff

    left, right = load_runs([args.a, args.b], args.keymap)
    print_notes(left)
    print_notes(right)
    table = diff(left, right)
    differing = 0
    width = max((len(str(name)) for name in table.index), default=0)
    for name, row in table.iterrows():
        status = row["status"]
        if status == "equal":
            line = f"equal ({row['steps_compared']} steps)"
        elif status == "differs":
            differing += 1
            line = (
                f"differs from step {row['first_diverging_step']}: "
                f"{_value(row['left_value'])} (A) vs {_value(row['right_value'])} (B)"
            )
        elif status == "only_left":
            differing += 1
            line = "only in A"
        else:
            differing += 1
            line = "only in B"
        print(f"{str(name):<{width}}  {line}")
    if differing:
        print(f"{differing} of {len(table)} series differ")
        return EXIT_DIFFERS
    print(f"all {len(table)} series are identical")
    return EXIT_OK


def _value(value: float) -> str:
    return "(not logged)" if value != value else repr(float(value))
