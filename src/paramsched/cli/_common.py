"""What every ``paramsched`` command shares: exit codes, the user-error type, reading runs.

How ``compare``, ``diff`` and ``export`` name a run (``SRC``)::

    runs/a                                   anything ps.replay.load reads, as it is
    hf:mlflow://RUN_ID                       KEYMAP:SRC: read SRC with that key map
    lightning_logs/version_0/metrics.csv#keymap=lightning
    log.csv#keymap=my_keymap.json&step_column=it&gaps=previous
                                             SRC#option=value&...: keymap, step_column,
                                             gaps, before_start (passed to ps.replay.load)

``KEYMAP`` is a preset (``auto``, ``hf``, ``lightning``, ``timm``,
``paramsched``) or a ``.json`` file holding a dict key map: ``{"column":
["key", "group"], ...}`` or ``{"columns": {...}, "step_column": "it",
"step_offset": 1}`` (read as JSON, never run). ``--keymap K`` given once is
the key map of every source that is not in paramsched's own format (such a
source is read as it is first); given once per source, the i-th applies to
the i-th source (``-`` reads that one as it is). A path that exists is never
split at ``:`` or ``#``.

>>> parse_source("hf:mlflow://abc")
RunSpec(source='mlflow://abc', options={'keymap': 'hf'})
>>> parse_source("metrics.csv#keymap=lightning&gaps=previous")
RunSpec(source='metrics.csv', options={'keymap': 'lightning', 'gaps': 'previous'})
"""

from __future__ import annotations

import argparse
import dataclasses
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
OPTIONS = ("keymap", "step_column", "gaps", "before_start")
_AS_IT_IS = ("-", "none")
_CLI_HINT = " (on the command line: --keymap NAME, NAME:SRC or SRC#keymap=NAME)"


class UserError(Exception):
    """A mistake in the command line itself, found after argparse."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One ``SRC`` of the command line: what to load and the options to load it with."""

    source: str
    options: dict[str, str] = dataclasses.field(default_factory=dict)


def add_keymap_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--keymap`` option (repeatable) of the commands that read runs."""
    parser.add_argument(
        "--keymap", action="append", default=None, metavar="KEYMAP",
        help="read logs paramsched did not write with this key map: auto, hf, lightning, timm, "
        "or a .json dict key map. Once: for every source not in paramsched's format; once per "
        "source: in order ('-' for none). A source can carry its own: hf:SRC or SRC#keymap=NAME",
    )


def parse_source(text: str) -> RunSpec:
    """Split ``KEYMAP:SRC`` and ``SRC#option=value&...`` (see the module docstring)."""
    from paramsched.replay.keymaps import KEYMAPS

    if not isinstance(text, str) or not text:
        raise UserError(f"a source must be a non-empty string, got {text!r}")
    if os.path.exists(text):
        return RunSpec(text)
    options: dict[str, str] = {}
    source = text
    head, sep, fragment = source.rpartition("#")
    if sep and "=" in fragment:
        for item in fragment.split("&"):
            name, eq, value = item.partition("=")
            if not eq or name not in OPTIONS or not value:
                raise UserError(
                    f"{text}: source options are NAME=VALUE joined by '&' with NAME one of "
                    f"{', '.join(OPTIONS)}, got {item!r}"
                )
            if name in options:
                raise UserError(f"{text}: option {name!r} is given twice")
            options[name] = value
        source = head
    prefix, colon, rest = source.partition(":")
    if colon and prefix in KEYMAPS and not rest.startswith("//"):
        if "keymap" in options:
            raise UserError(f"{text}: the key map is given twice ({prefix}: and #keymap=)")
        options = {"keymap": prefix, **options}
        source = rest
    if not source:
        raise UserError(f"{text}: no source before the options")
    return RunSpec(source, options)


def resolve_cli_keymap(value: str) -> Any:
    """A ``--keymap`` value: a preset name, or a ``.json`` file holding a dict key map."""
    from paramsched.replay.keymaps import KEYMAPS, DictKeyMap

    if value in KEYMAPS:
        return value
    path = Path(value)
    if path.suffix.lower() == ".json" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no keymap file at {value!r}")
        try:
            document = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise UserError(f"keymap file {value!r} is not valid JSON: {exc}") from None
        return DictKeyMap.from_document(document, where=f"keymap file {value!r}")
    raise UserError(
        f"--keymap must be one of {', '.join(sorted(KEYMAPS))} or a .json keymap file, got {value!r}"
    )


def load_runs(sources: Sequence[str], keymaps: Sequence[str] | None = None) -> list[Any]:
    """Read every ``SRC`` of a command line, with the ``--keymap`` values given (see above)."""
    keymaps = list(keymaps or [])
    if len(keymaps) > 1 and len(keymaps) != len(sources):
        raise UserError(
            f"--keymap is given {len(keymaps)} times for {len(sources)} sources: give it once (for "
            "every source) or once per source, in order ('-' for none)"
        )
    if len(keymaps) == 1:
        return [load_source(s, keymaps[0]) for s in sources]
    if not keymaps:
        return [load_source(s) for s in sources]
    return [load_source(s, None if k in _AS_IT_IS else k, fallback=False) for s, k in zip(sources, keymaps)]


def load_source(text: str, keymap: Any = None, *, fallback: bool = True) -> Any:
    """Read one ``SRC``. With ``fallback``, ``keymap`` is used only when the source does not
    read as it is (paramsched runs and foreign logs can then share one ``--keymap``); a key
    map the source carries itself (``hf:SRC``, ``SRC#keymap=...``) always applies."""
    from paramsched import replay

    spec = parse_source(text)
    options: dict[str, Any] = dict(spec.options)
    if "keymap" in options:
        options["keymap"] = resolve_cli_keymap(options["keymap"])
        fallback = False
    elif isinstance(keymap, str) and keymap not in _AS_IT_IS:
        options["keymap"] = resolve_cli_keymap(keymap)
    elif keymap is not None and not isinstance(keymap, str):
        options["keymap"] = keymap  # a KeyMap or a dict, from Python
    try:
        if fallback and "keymap" in options:
            plain = {k: v for k, v in options.items() if k != "keymap"}
            try:
                return replay.load(spec.source, **plain)
            except ValueError:
                pass
        return replay.load(spec.source, **options)
    except ValueError as exc:
        message = str(exc)
        if "keymap=" in message and "keymap" not in options:
            raise ValueError(message + _CLI_HINT) from None
        raise
    except (RecursionError, OverflowError) as exc:  # a hostile log: not a bug of the caller's
        raise UserError(f"{spec.source}: cannot be read: {type(exc).__name__}: {exc}") from None


def print_notes(traj: Any) -> None:
    """What the reader normalized or could not vouch for, one ``note:`` line each on stderr."""
    for note in getattr(traj, "notes", ()):
        print(f"note: {traj.source}: {note}", file=sys.stderr)
