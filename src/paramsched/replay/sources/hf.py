"""`HFSource`: a Hugging Face Trainer ``trainer_state.json`` (every checkpoint folder has one).

``ps.replay.load("out/checkpoint-500")``, ``load("out/checkpoint-500/trainer_state.json")``
or ``load("out")`` (the output directory: its own ``trainer_state.json`` if
``trainer.save_state()`` wrote one, else the checkpoint with the highest
step). ``hf://PATH`` names the source explicitly.

The file's ``log_history`` is read with the Hugging Face key map
(:class:`paramsched.replay.keymaps.HFKeyMap`): ``learning_rate`` becomes
``hp/lr/g0``, and since the Trainer logs update ``k``'s lr at ``global_step
= k + 1``, logged step ``s`` is read as update ``s - 1``. A model's
``config.json`` beside the file names the transformers version that wrote
it: before 4.51 the Trainer logged the NEXT update's lr there, and logged
step ``s`` is read as update ``s``. The other entries
(``loss``, ``grad_norm``, ``eval_loss``, ``epoch``, ...) become
``traj.metrics`` on the same step axis; the end-of-training summary
(``train_runtime``, ``train_loss``, ...) is left out. HF logs group 0's lr
only: replay every group with ``traj.schedules(groups="broadcast")``.

The file is parsed as JSON; nothing in it is imported or run.

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "checkpoint-2"
>>> folder.mkdir()
>>> log = [{"loss": 1.0, "learning_rate": 0.1, "step": 1}, {"loss": 0.5, "learning_rate": 0.05, "step": 2}]
>>> _ = (folder / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": log}))
>>> traj = HFSource().load(folder)
>>> traj.frame["hp/lr/g0"].to_dict(), traj.metrics["loss"].to_dict()
({0: 0.1, 1: 0.05}, {0: 1.0, 1: 0.5})
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from paramsched.checks import describe
from paramsched.replay._columns import row_locator, table_columns
from paramsched.replay.keymaps import AutoKeyMap, HFKeyMap, informed_keymap
from paramsched.replay.sources import Source
from paramsched.replay.trajectory import Trajectory

__all__ = ["STATE_FILE", "HFSource"]

STATE_FILE = "trainer_state.json"
CONFIG_FILE = "config.json"  # the model's config, saved beside it: it names the transformers version
_CHECKPOINT = re.compile(r"^checkpoint-([0-9]+)$")
_SCHEME = "hf://"


class HFSource(Source):
    """A Hugging Face ``trainer_state.json``, its checkpoint folder, or the Trainer's output dir."""

    name = "hf"
    accepts = "a Hugging Face Trainer checkpoint folder or output dir (trainer_state.json)"

    def claims(self, obj: Any) -> bool:
        if isinstance(obj, str) and "://" in obj:
            return obj.startswith(_SCHEME)
        if not isinstance(obj, (str, os.PathLike)):
            return False
        path = Path(obj)
        if path.is_file():
            return path.name == STATE_FILE
        if path.is_dir():
            return (path / STATE_FILE).is_file() or bool(_checkpoints(path))
        return False

    def load(
        self,
        obj: str | os.PathLike[str],
        *,
        keymap: Any = None,
        step_column: str | None = None,
    ) -> Trajectory:
        """Read the ``log_history`` of ``obj`` (a file, a checkpoint folder or an output dir).

        ``keymap`` defaults to the Hugging Face key map, with the step
        convention of the transformers version the checkpoint's
        ``config.json`` names (``"hf"`` and ``"auto"`` do the same); a
        :class:`~paramsched.replay.keymaps.HFKeyMap` is used as given, and
        another key map (a dict ``{column: (key, group)}``) reads other
        entries of the log.
        """
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"the hf source reads a path, got {describe(obj)}")
        text = os.fspath(obj)
        if text.startswith(_SCHEME):
            text = text[len(_SCHEME):]
        path, notes = _state_file(Path(text))
        label = os.fspath(path)
        table, more = _log_table(path, label)
        notes += more
        if isinstance(keymap, str) and keymap == "auto":
            chosen, why = AutoKeyMap().choose([str(c) for c in table.columns], source=label)
            if isinstance(chosen, HFKeyMap):
                notes.append(why)
                keymap = None
        if keymap is None or (isinstance(keymap, str) and keymap == "hf"):
            version, more = _transformers_version(path.parent / CONFIG_FILE)
            notes += more
            keymap = informed_keymap("hf", transformers_version=version)
        frame, table_notes, metrics = table_columns(
            table,
            source=label,
            keymap=keymap,
            step_column=step_column,
            locate=row_locator("log_history entry", 0),
            with_metrics=True,
        )
        return Trajectory(frame, None, label, notes=notes + list(table_notes), metrics=metrics)


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def _state_file(path: Path) -> tuple[Path, list[str]]:
    """The ``trainer_state.json`` meant by ``path``, and a note when a checkpoint was picked."""
    if path.is_file():
        return path, []
    if not path.exists():
        raise FileNotFoundError(f"no run at {os.fspath(path)!r}: the path does not exist")
    if (path / STATE_FILE).is_file():
        return path / STATE_FILE, []
    checkpoints = _checkpoints(path)
    if not checkpoints:
        raise FileNotFoundError(
            f"{os.fspath(path)!r} holds no {STATE_FILE} and no checkpoint-<step>/{STATE_FILE}: "
            "not a Hugging Face Trainer output"
        )
    step, chosen = checkpoints[-1]
    note = (
        f"read {chosen.name}/{STATE_FILE}, the last of {len(checkpoints)} checkpoint(s) in "
        f"{os.fspath(path)!r}"
    )
    return chosen / STATE_FILE, [note]


def _transformers_version(path: Path) -> tuple[str | None, list[str]]:
    """The ``transformers_version`` a model's ``config.json`` names (None without one), and notes."""
    if not path.is_file():
        return None, []
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None, [f"{path.name} beside it is not valid JSON: the transformers version that wrote the log is unknown"]
    version = document.get("transformers_version") if isinstance(document, dict) else None
    return (version if isinstance(version, str) else None), []


def _log_table(path: Path, label: str) -> tuple[pd.DataFrame, list[str]]:
    """``log_history`` as a wide table (one row per entry), and notes."""
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{label}: not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{label}: not a trainer_state.json (JSON nested too deeply)") from None
    if not isinstance(document, dict):
        raise ValueError(
            f"{label}: a trainer_state.json holds a JSON object with a list 'log_history', got {describe(document)}"
        )
    if "log_history" not in document:
        raise ValueError(
            f"{label}: a trainer_state.json holds a list 'log_history'; this object has the keys "
            f"{sorted(document)[:8]}"
        )
    if not isinstance(document["log_history"], list):
        raise ValueError(
            f"{label}: 'log_history' must be a list of objects, got {describe(document['log_history'])}"
        )
    history = document["log_history"]
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise ValueError(f"{label}: log_history entry {i} must be an object, got {describe(entry)}")
    if not history:
        raise ValueError(f"{label}: log_history is empty (nothing was logged: see TrainingArguments.logging_steps)")
    columns = list(dict.fromkeys(str(k) for entry in history for k in entry))
    # object columns: every value exactly as JSON gave it (no silent int -> float rounding)
    table = pd.DataFrame(
        {c: pd.Series([entry.get(c) for entry in history], dtype=object) for c in columns}
    )
    notes = []
    global_step, max_steps = document.get("global_step"), document.get("max_steps")
    if isinstance(global_step, int) and isinstance(max_steps, int) and 0 < global_step < max_steps:
        notes.append(f"{STATE_FILE}: a checkpoint at global_step {global_step} of max_steps {max_steps}")
    return table, notes
