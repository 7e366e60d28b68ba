"""`paramsched branch PARENT --at K --cooldown C [--shape 1-sqrt] [-o child.json] [--html|--png]`.

Previews the child run a cooldown from step ``K`` of ``PARENT`` would apply,
before anyone trains it: prints its schedule, writes its description (the
lineage and the child's values) with ``-o``, and draws it beside the parent
with ``--html`` / ``--png``.
"""

from __future__ import annotations

import argparse
import json

from paramsched.cli._common import EXIT_OK, UserError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``branch`` command to the ``paramsched`` parser."""
    p = commands.add_parser(
        "branch", help="preview a cooldown branched from a run's checkpoint",
        description="Show what ps.branch(PARENT, at_step=K, cooldown=C, ...) would schedule: the parent's "
        "values before K, then a decay to --end over C steps.",
    )
    p.add_argument("parent", metavar="PARENT", help="the parent run (any replay source)")
    p.add_argument("--at", type=int, required=True, help="the branch step (the parent's checkpoint step)")
    p.add_argument("--cooldown", required=True, help="cooldown steps (int) or a fraction of --at (e.g. 0.2)")
    p.add_argument("--shape", default="1-sqrt", help="decay shape: 1-sqrt, linear, cosine, sqrt (default 1-sqrt)")
    p.add_argument("--end", type=float, default=0.0, help="the value the keys decay to (default 0)")
    p.add_argument("--keys", default="lr", help="comma-separated keys to cool down (default lr)")
    p.add_argument("--others", default="replay", help="the other keys: replay, hold or plan (default replay)")
    p.add_argument("-o", "--out", help="write the child's description (JSON)")
    p.add_argument("--html", help="draw parent and child on one page")
    p.add_argument("--png", help="draw parent and child as a PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import paramsched as ps

    text = args.cooldown.strip()
    try:
        cooldown: int | float = float(text) if "." in text else int(text)
    except ValueError:
        raise UserError(f"--cooldown must be a step count or a fraction, got --cooldown {args.cooldown}") from None
    keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    child = ps.branch(args.parent, at_step=args.at, cooldown=cooldown, shape=args.shape, end=args.end,
                      keys=keys, others=args.others)
    preview = child.preview()
    lineage = child.lineage
    print(f"branch at step {lineage['branch_step']} of {lineage['source']}: cooldown {lineage['cooldown']} steps "
          f"({lineage['shape']}, to {lineage['end']!r}), total_steps {child.total_steps}")
    last = child.total_steps - 1
    for name in preview.series:
        values = preview.frame[name]
        at = lineage["branch_step"]
        shown = "  ".join(f"step {k}: {float(values[k])!r}" for k in (at - 1, at, last) if k >= 0)
        print(f"  {name}: {shown}")
    if args.out:
        document = {
            "parent": lineage,
            "total_steps": child.total_steps,
            "values": {name: preview.frame[name].tolist() for name in preview.series},
        }
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        print(f"wrote {args.out}")
    if args.html or args.png:
        target = args.html or args.png
        ps.dashboard.compare({"parent": args.parent, "child (preview)": preview}, target,
                             png=args.png if args.html else None, progress=False)
        print(f"wrote {target}" + (f" and {args.png}" if args.html and args.png else ""))
    return EXIT_OK
