"""`paramsched export SRC -o DIR|FILE.csv`: any source normalized to the CSV run format."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from paramsched.cli._common import EXIT_OK, add_keymap_argument, load_runs, print_notes


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``export`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "export", help="normalize any source to the CSV run format",
        description="Read a run from any source and write it as a CSV run directory "
        "(values.csv + run.json), or as a single .csv file (values only).",
    )
    p.add_argument("source", metavar="SRC", help="any source, e.g. mlflow://RUN, out/checkpoint-500, log.csv#keymap=timm")
    p.add_argument("-o", "--out", required=True, help="a directory (CSV run) or a file ending in .csv")
    add_keymap_argument(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    (traj,) = load_runs([args.source], args.keymap)
    print_notes(traj)
    out = Path(args.out)
    if out.suffix.lower() == ".csv" and out.name != "values.csv":
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{os.fspath(out)!r} already exists; pass --overwrite to replace it")
        with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as tmp:
            traj.to_csv(Path(tmp) / "run")
            if out.parent != Path(""):
                out.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(os.fspath(Path(tmp) / "run" / "values.csv"), os.fspath(out))
        print(f"wrote {out} ({len(traj.frame)} steps, {len(traj.series)} series)")
        if traj.metadata is not None:
            print(
                "note: a single .csv holds the values only; export to a directory to keep run.json "
                "(the schedule specs)", file=sys.stderr,
            )
        return EXIT_OK
    try:
        folder = traj.to_csv(out, overwrite=args.overwrite)
    except FileExistsError:
        raise FileExistsError(f"{os.fspath(out)!r} already holds a CSV run; pass --overwrite to replace it") from None
    written = "values.csv + run.json" if traj.metadata is not None else "values.csv (no metadata)"
    print(f"wrote {folder} ({written}; {len(traj.frame)} steps, {len(traj.series)} series)")
    return EXIT_OK
