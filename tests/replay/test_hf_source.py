"""HFSource: trainer_state.json files, checkpoint folders and Trainer output dirs.

The real Trainer run that pins the step convention is in
integrations/transformers/tests/test_foreign_replay.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.replay import SOURCES, load
from paramsched.replay.sources.hf import HFSource


def state(steps: range, *, max_steps: int | None = None, summary: bool = False) -> dict:
    history = [{"epoch": k / 4, "learning_rate": 0.1 / k, "loss": 1.0 / k, "step": k} for k in steps]
    if summary:
        history.append({"epoch": steps[-1] / 4, "train_runtime": 1.0, "train_loss": 0.5, "step": steps[-1]})
    return {"global_step": steps[-1], "max_steps": max_steps or steps[-1], "log_history": history}


def write_state(folder: Path, document: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trainer_state.json"
    path.write_text(json.dumps(document))
    return path


def test_a_checkpoint_folder_a_file_and_an_output_dir(tmp_path):
    out = tmp_path / "out"
    for k in (2, 4, 10):  # checkpoint-10 sorts after checkpoint-4 by step, not by name
        write_state(out / f"checkpoint-{k}", state(range(1, k + 1), max_steps=10))
    ten = load(out / "checkpoint-10")
    assert ten.source == str(out / "checkpoint-10" / "trainer_state.json")
    assert ten.frame["hp/lr/g0"].to_dict() == {k - 1: 0.1 / k for k in range(1, 11)}
    assert ten.metrics["loss"].to_dict() == {k - 1: 1.0 / k for k in range(1, 11)}
    assert ten.metadata is None and ten.total_steps == 10
    assert load(out / "checkpoint-10" / "trainer_state.json").equals(ten)
    assert load(f"hf://{out / 'checkpoint-10'}").equals(ten)
    latest = load(out)
    assert latest.equals(ten) and latest.notes[0] == f"read checkpoint-10/trainer_state.json, the last of 3 checkpoint(s) in {str(out)!r}"
    four = load(out / "checkpoint-4")
    assert four.frame.index.tolist() == [0, 1, 2, 3]
    assert "trainer_state.json: a checkpoint at global_step 4 of max_steps 10" in four.notes
    # trainer.save_state() writes one at the top, with the end-of-training summary row: it wins
    write_state(out, state(range(1, 11), summary=True))
    top = load(out)
    assert top.source == str(out / "trainer_state.json") and top.equals(ten)
    assert not any("more than once" in note for note in top.notes)
    assert "train_loss" not in top.metrics.columns


def test_the_models_config_json_names_the_transformers_version_and_so_the_convention(tmp_path):
    history = {"log_history": [{"learning_rate": 0.1 * k, "step": k} for k in (1, 2, 3)]}
    old = write_state(tmp_path / "old" / "checkpoint-3", history).parent
    (old / "config.json").write_text(json.dumps({"model_type": "bert", "transformers_version": "4.46.3"}))
    traj = load(old)
    assert traj.frame.index.tolist() == [1, 2, 3]  # before 4.51: the lr at global_step s is update s's
    assert "written by transformers 4.46.3: before 4.51" in traj.notes[0]
    new = write_state(tmp_path / "new" / "checkpoint-3", history).parent
    (new / "config.json").write_text(json.dumps({"transformers_version": "4.57.1"}))
    assert load(new).frame.index.tolist() == [0, 1, 2]
    assert "written by transformers 4.57.1: the lr of update k is logged at global_step k + 1" in load(new).notes[0]
    (new / "config.json").write_text("{oops")
    assert load(new).frame.index.tolist() == [0, 1, 2]
    assert "config.json beside it is not valid JSON: the transformers version that wrote the log is unknown" in load(new).notes
    for keymap in ("hf", "auto"):  # the CLI's hf:SRC, and auto (which says what it chose)
        assert load(old, keymap=keymap).frame.index.tolist() == [1, 2, 3], keymap
    assert "keymap='auto' read this log as a Hugging Face Trainer log ('hf': found 'learning_rate')" in load(old, keymap="auto").notes
    explicit = load(old, keymap=ps.replay.keymaps.hf(step_offset=1))  # a key map object is used as given
    assert explicit.frame.index.tolist() == [0, 1, 2]


def test_claims_only_trainer_state(tmp_path):
    src = HFSource()
    path = write_state(tmp_path / "checkpoint-1", state(range(1, 2)))
    assert src.claims(path) and src.claims(path.parent) and src.claims(tmp_path) and src.claims(str(path))
    assert src.claims("hf://anything") and not src.claims("mlflow://x")
    (tmp_path / "other.json").write_text("{}")
    assert not src.claims(tmp_path / "other.json") and not src.claims(tmp_path / "nope") and not src.claims(3)
    assert SOURCES.get("hf") is HFSource


@pytest.mark.parametrize(
    "text, message",
    [
        ("{oops", r"trainer_state\.json: not valid JSON: "),
        ("[1, 2]", r"trainer_state\.json: a trainer_state\.json holds a JSON object with a list 'log_history', got \[1, 2\]$"),
        ('{"global_step": 3}', r"a trainer_state\.json holds a list 'log_history'; this object has the keys \['global_step'\]$"),
        ('{"log_history": 3}', r"trainer_state\.json: 'log_history' must be a list of objects, got 3$"),
        ('{"log_history": []}', r"trainer_state\.json: log_history is empty \(nothing was logged"),
        ('{"log_history": [{"step": 1, "learning_rate": 0.1}, 7]}', r"log_history entry 1 must be an object, got 7$"),
        ('{"log_history": [{"step": 1, "learning_rate": "fast"}]}', r"column 'learning_rate' \(series 'hp/lr/g0'\) has a non-numeric value 'fast' at step 1$"),
        ('{"log_history": [{"step": 1.5, "learning_rate": 0.1}]}', r"column 'step' must hold integer steps, got 1\.5 at log_history entry 0$"),
        ('{"log_history": [{"step": 1, "loss": 0.1}]}', r"keymap 'hf' found none of the columns \['learning_rate', 'train/learning_rate'\]"),
        ("[" * 100_000 + "]" * 100_000, r"trainer_state\.json: not a trainer_state\.json \(JSON nested too deeply\)$"),
    ],
)
def test_bad_files_are_named(tmp_path, text, message):
    path = tmp_path / "trainer_state.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_other_keymaps_and_missing_paths(tmp_path):
    path = write_state(tmp_path / "c", {"log_history": [{"step": 1, "my_lr": 0.1, "learning_rate": 1.0}]})
    traj = load(path, keymap={"my_lr": ("lr", "g0")})
    assert traj.frame["hp/lr/g0"].to_dict() == {1: 0.1}  # a dict keymap has no step shift unless asked
    assert "learning_rate" in traj.metrics.columns
    with pytest.raises(FileNotFoundError, match=r"holds no trainer_state\.json and no checkpoint-<step>/trainer_state\.json"):
        HFSource().load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no run at '.*nope': the path does not exist$"):
        HFSource().load(tmp_path / "nope")
