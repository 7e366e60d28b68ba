"""The ``paramsched`` command: preview, compare, diff, export, demo.

::

    paramsched preview SPEC.json --steps 1000 [-o out.png|out.html]
    paramsched compare runs/a runs/b mlflow://RUN_ID -o compare.html [--by fraction] [--png compare.png]
    paramsched diff runs/a runs/b            # exit 1 when any series differs
    paramsched export mlflow://RUN_ID -o runs/copy
    paramsched demo [--out paramsched-demo] [--steps 300]

A user mistake (a missing path, an unknown run id, an unreachable server, a
bad spec) prints one line ``paramsched: error: ...`` on stderr and exits
with code 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
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


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``paramsched`` command."""
    from paramsched import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Schedule, record, replay and compare optimizer hyperparameters.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "preview", help="show a schedule spec's values without training",
        description="Evaluate a schedule spec (JSON: one spec, or {key: spec}) over --steps steps. "
        "Without -o, print a summary and sample values; -o out.png or out.html draws it.",
    )
    p.add_argument("spec", metavar="SPEC.json", help="JSON file (or inline JSON text starting with '{')")
    p.add_argument("--steps", type=int, required=True, help="total_steps of the run")
    p.add_argument("-o", "--out", help="write a plot: a .png or .html file")
    p.set_defaults(func=_cmd_preview)

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
    p.set_defaults(func=_cmd_compare)

    p = commands.add_parser(
        "diff", help="first divergence per series between two runs (exit 1 when they differ)",
        description="Compare two runs series by series with ==. Exit code 0: identical; "
        "1: some series differ; 2: an error.",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--keymap", choices=("lightning", "hf"), help="read foreign logs with this key map")
    p.set_defaults(func=_cmd_diff)

    p = commands.add_parser(
        "export", help="normalize any source to the CSV run format",
        description="Read a run from any source and write it as a CSV run directory "
        "(values.csv + run.json), or as a single .csv file (values only).",
    )
    p.add_argument("source", metavar="SRC")
    p.add_argument("-o", "--out", required=True, help="a directory (CSV run) or a file ending in .csv")
    p.add_argument("--keymap", choices=("lightning", "hf"), help="read a foreign log with this key map")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=_cmd_export)

    p = commands.add_parser(
        "demo", help="train a tiny model twice, record, replay, and compare",
        description="Train a tiny model twice (a baseline and an ablation that replays its lr), "
        "record to CSV (and MLflow / W&B offline when installed), then write the compare dashboard.",
    )
    p.add_argument("--out", default="paramsched-demo", help="output folder (default ./paramsched-demo)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default 400)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
    return parser


# -- commands ------------------------------------------------------------------


def _cmd_preview(args: argparse.Namespace) -> int:
    import paramsched as ps
    from paramsched.recording.naming import parse_series_name

    mapping, single = _read_spec(args.spec)
    if args.steps < 1:
        raise UserError(f"--steps must be an int >= 1, got --steps {args.steps}")
    frame = ps.simulate(mapping, total_steps=args.steps)
    name = "spec" if args.spec.lstrip().startswith("{") else Path(args.spec).stem
    if args.out:
        out = Path(args.out)
        suffix = out.suffix.lower()
        if suffix == ".png":
            from paramsched.dashboard.png import preview_png

            values = {parse_series_name(c)[0]: frame[c].to_numpy() for c in frame.columns}
            preview_png(values, args.steps, out)
        elif suffix in (".html", ".htm"):
            from paramsched.dashboard import compare
            from paramsched.replay.trajectory import Trajectory

            traj = Trajectory(frame, _preview_metadata(mapping, frame, args.steps), name)
            compare({name: traj}, out, title=f"paramsched preview: {name} ({args.steps} steps)")
        else:
            raise UserError(f"-o must end in .png or .html, got -o {args.out}")
        print(f"wrote {out}")
    from paramsched.dashboard.summary import summarize

    steps = frame.index.to_numpy()
    for column in frame.columns:
        key = parse_series_name(column)[0]
        values = frame[column].to_numpy()
        s = summarize(steps, values)
        label = "value" if single else key
        schedule = ps.schedule_from_spec(mapping[key])
        print(f"{label}: {schedule!r}")
        decay = "none" if s.decay_start is None else f"from step {s.decay_start}"
        print(
            f"  warmup {s.warmup} steps, peak {s.peak!r} at step {s.peak_step}, decay {decay}, "
            f"final {s.final!r} at step {s.last_step}"
        )
        for step in _sample_steps(schedule, args.steps):
            print(f"  step {step:>8d}  {float(values[step])!r}")
    return EXIT_OK


def _read_spec(text: str) -> tuple[dict[str, Any], bool]:
    """The ``{key: spec}`` mapping of a preview spec, and whether it was a single spec."""
    if text.lstrip().startswith("{"):
        where = "the inline spec"
        raw = text
    else:
        where = text
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"no spec file at {text!r}")
        raw = path.read_text(encoding="utf-8")
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not document:
        raise UserError(
            f"{where} must hold a schedule spec ({{\"type\": ...}}) or a mapping {{key: spec}}, "
            f"got {type(document).__name__}"
        )
    if "type" in document:
        return {"value": document}, True
    for key, spec in document.items():
        if not isinstance(spec, dict):
            raise UserError(f"{where}: the spec of {key!r} must be a JSON object with a 'type', got {spec!r}")
    return dict(document), False


def _preview_metadata(mapping: dict[str, Any], frame: Any, total: int) -> dict[str, Any]:
    from paramsched import __version__
    from paramsched.recording.metadata import FORMAT, utc_now

    return {
        "format": FORMAT, "paramsched_version": __version__, "created_at": utc_now(),
        "total_steps": total, "optimizer": None, "relative": False,
        "schedules": mapping, "overrides": {},
        "groups": [{"index": 0, "label": "g0", "base": {}}],
        "series": [str(c) for c in frame.columns], "rank": 0, "world_size": 1,
        "resumed_from_step": None,
    }


def _sample_steps(schedule: Any, total: int) -> list[int]:
    points = {0, total - 1, total // 4, total // 2, (3 * total) // 4}
    for boundary in schedule.phase_boundaries(total):
        points.update((boundary - 1, boundary))
    return sorted(p for p in points if 0 <= p < total)


def _cmd_compare(args: argparse.Namespace) -> int:
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


def _cmd_diff(args: argparse.Namespace) -> int:
    from paramsched.replay import diff

    left = _load(args.a, args.keymap)
    right = _load(args.b, args.keymap)
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


def _cmd_export(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    traj = _load(args.source, args.keymap)
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


def _cmd_demo(args: argparse.Namespace) -> int:
    from paramsched.demo import DEFAULT_STEPS, run_demo

    steps = DEFAULT_STEPS if args.steps is None else args.steps
    run_demo(args.out, steps=steps, quiet=args.quiet)
    return EXIT_OK


def _load(source: str, keymap: str | None) -> Any:
    from paramsched.dashboard.compare import load_source

    return load_source(source, keymap)


if __name__ == "__main__":
    sys.exit(main())
