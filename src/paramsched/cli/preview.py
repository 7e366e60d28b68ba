"""`paramsched preview SPEC.json --steps N [-o out.png|out.html]`: a schedule's values without training.

Every step is evaluated up to ``EVERY_STEP_UP_TO`` steps; a longer run is
evaluated on an even grid of ``GRID_POINTS`` steps plus every phase boundary
(and the steps either side of it), so ``--steps 10**12`` takes as long as
``--steps 200000``. ``--steps`` is limited to ``MAX_STEPS`` (2**53: beyond
it, step numbers are no longer exact as floats, and schedules compute with
``step / total_steps``); it is written as an integer, ``10**9`` or ``1e9``.

>>> parse_steps("10**6"), parse_steps("2.5e3"), parse_steps("1_000")
(1000000, 2500, 1000)
"""

from __future__ import annotations

import argparse
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from paramsched.cli._common import EXIT_OK, UserError

EVERY_STEP_UP_TO = 200_000
GRID_POINTS = 100_001
MAX_STEPS = 2**53


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``preview`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "preview", help="show a schedule spec's values without training",
        description="Evaluate a schedule spec (JSON: one spec, or {key: spec}) over --steps steps. "
        "Without -o, print a summary and sample values; -o out.png or out.html draws it.",
    )
    p.add_argument("spec", metavar="SPEC.json", help="JSON file (or inline JSON text starting with '{')")
    p.add_argument(
        "--steps", required=True, metavar="N",
        help=f"total_steps of the run: an integer, 10**9 or 1e9 (at most 2**53; every step is evaluated "
        f"up to {EVERY_STEP_UP_TO}, a longer run on a grid that keeps every phase boundary)",
    )
    p.add_argument("-o", "--out", help="write a plot: a .png or .html file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import paramsched as ps
    from paramsched.dashboard.summary import summarize
    from paramsched.naming import parse_series_name

    args.steps = parse_steps(args.steps)
    if args.steps < 1:
        raise UserError(f"--steps must be an int >= 1, got --steps {args.steps}")
    if args.steps > MAX_STEPS:
        raise UserError(
            f"--steps must be at most {MAX_STEPS} (2**53: beyond it steps are not exact as floats), "
            f"got --steps {args.steps}"
        )
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".png", ".html", ".htm"):
        raise UserError(f"-o must end in .png or .html, got -o {args.out}")
    mapping, single = _read_spec(args.spec)
    frame = preview_frame(mapping, args.steps)
    name = "spec" if args.spec.lstrip().startswith("{") else Path(args.spec).stem
    if out is not None:
        if out.suffix.lower() == ".png":
            from paramsched.dashboard.png import preview_png

            values = {parse_series_name(c)[0]: frame[c].to_numpy() for c in frame.columns}
            preview_png(values, frame.index.to_numpy(), out)
        else:
            from paramsched.dashboard import compare
            from paramsched.replay.trajectory import Trajectory

            traj = Trajectory(frame, _preview_metadata(mapping, frame, args.steps), name)
            compare({name: traj}, out, title=f"paramsched preview: {name} ({args.steps} steps)")
        print(f"wrote {out}")
    steps = frame.index.to_numpy()
    if len(frame) < args.steps:
        print(
            f"evaluated at {len(frame)} of {args.steps} steps (every step up to {EVERY_STEP_UP_TO}; "
            "beyond, an even grid plus every phase boundary)"
        )
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
            print(f"  step {step:>8d}  {float(frame.at[step, column])!r}")
    return EXIT_OK


def parse_steps(text: str) -> int:
    """``--steps`` as an int: ``1000``, ``1_000``, ``10**9`` or ``1e9`` (a whole number); else a UserError."""
    stripped = text.strip()
    power = re.fullmatch(r"(\d[\d_]*)\s*\*\*\s*(\d{1,4})", stripped)
    try:
        if re.fullmatch(r"[+-]?\d[\d_]*", stripped):
            return int(stripped)
        if power:
            return int(power[1]) ** int(power[2])
        if re.fullmatch(r"\d+(\.\d+)?[eE]\+?\d{1,4}", stripped):
            value = Decimal(stripped)
            if value == value.to_integral_value():
                return int(value)
    except (ValueError, InvalidOperation):
        pass  # a number too long to read: the error below
    shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
    raise UserError(f"--steps must be a whole number of steps such as 1000, 10**9 or 1e9, got --steps {shown}")


def preview_frame(mapping: dict[str, Any], total: int) -> Any:
    """The values of ``mapping``'s schedules (one group), at every step or on the bounded grid."""
    import numpy as np
    import pandas as pd

    import paramsched as ps
    from paramsched import _plan

    if total <= EVERY_STEP_UP_TO:
        frame = ps.simulate(mapping, total_steps=total)
        frame.index = pd.Index(frame.index.to_numpy(dtype=np.int64), name="step")
        return frame
    plan = _plan.build_plan(mapping, None, [{}], ["g0"], check_keys=False)
    _plan.check_plan(plan, total, None)  # the same range checks as simulate() and the scheduler
    steps = _grid(total, [entry.schedule for entry in plan])
    matrix = np.asarray([_plan.evaluate(plan, k, total) for k in steps], dtype=np.float64)
    columns = {entry.series: matrix[:, i] for i, entry in enumerate(plan)}
    return pd.DataFrame(columns, index=pd.Index(np.asarray(steps, dtype=np.int64), name="step"))


def _grid(total: int, schedules: list[Any]) -> list[int]:
    """An even grid over ``0..total-1`` plus each phase boundary, the steps either side of it,
    and the sampled steps printed."""
    points = {i * (total - 1) // (GRID_POINTS - 1) for i in range(GRID_POINTS)}
    for schedule in schedules:
        for boundary in schedule.phase_boundaries(total):
            points.update((boundary - 1, boundary, boundary + 1))
        points.update(_sample_steps(schedule, total))
    return sorted(p for p in points if 0 <= p < total)


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
