"""`paramsched preview SPEC.json --steps N [-o out.png|out.html]`: a schedule's values without training."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from paramsched.cli._common import EXIT_OK, UserError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``preview`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "preview", help="show a schedule spec's values without training",
        description="Evaluate a schedule spec (JSON: one spec, or {key: spec}) over --steps steps. "
        "Without -o, print a summary and sample values; -o out.png or out.html draws it.",
    )
    p.add_argument("spec", metavar="SPEC.json", help="JSON file (or inline JSON text starting with '{')")
    p.add_argument("--steps", type=int, required=True, help="total_steps of the run")
    p.add_argument("-o", "--out", help="write a plot: a .png or .html file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import paramsched as ps
    from paramsched.naming import parse_series_name

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
    from paramsched.runformat import FORMAT, utc_now

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
