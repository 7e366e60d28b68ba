"""TensorBoard logs written by torch's own ``SummaryWriter``, read back with ``ps.replay.load``.

- ``add_scalar(..., new_style=True, double_precision=True)``: float64, ``==``;
- the default ``add_scalar`` (what Lightning's ``LearningRateMonitor`` and
  Hugging Face's Trainer write): float32, read within float32 rounding and
  flagged in ``traj.notes``, through each key map (lightning, hf, auto, dict).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import paramsched as ps
from paramsched_tensorboard import TensorBoardRecorder

SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter

STEPS = 30
LR = [3e-4 * (1 + k) / 7 for k in range(STEPS)]  # not float32-representable
WD = [0.1 - k / 300 for k in range(STEPS)]


def _write(folder: Path, scalars: dict[str, list[float]], *, step_offset: int = 0, **style: bool) -> Path:
    writer = SummaryWriter(log_dir=str(folder))
    for k in range(STEPS):
        for tag, values in scalars.items():
            writer.add_scalar(tag, values[k], k + step_offset, **style)
    writer.close()
    return folder


def _float32(values: list[float]) -> list[float]:
    return np.asarray(values).astype(np.float32).astype(np.float64).tolist()


def _float32_noted(traj: ps.replay.Trajectory) -> bool:
    return any("float32" in note and "never with ==" in note for note in traj.notes)


def test_a_double_precision_summary_writer_log_reads_back_exactly(tmp_path: Path) -> None:
    folder = _write(tmp_path / "tb", {"hp/lr/g0": LR, "hp/weight_decay/g0": WD}, new_style=True, double_precision=True)
    traj = ps.replay.load(folder)
    assert traj.frame["hp/lr/g0"].tolist() == LR and traj.frame["hp/weight_decay/g0"].tolist() == WD
    assert not _float32_noted(traj), traj.notes
    assert traj.metadata is None  # written without paramsched: no run metadata


def test_a_float32_log_is_flagged_and_never_claims_equality(tmp_path: Path) -> None:
    folder = _write(tmp_path / "tb", {"hp/lr/g0": LR})
    traj = ps.replay.load(folder)
    got = traj.frame["hp/lr/g0"].tolist()
    assert got == _float32(LR) and got != LR  # the float32 rounding of what was applied
    assert _float32_noted(traj), traj.notes
    assert np.all(np.abs(np.array(got) - LR) <= np.abs(LR) * 2.0**-24)


def test_a_diff_against_a_float32_log_says_why_they_differ(tmp_path: Path) -> None:
    exact = ps.replay.load(pd.DataFrame({"hp/lr/g0": LR}, index=pd.Index(range(STEPS), name="step")))
    table = exact.diff(ps.replay.load(_write(tmp_path / "tb", {"hp/lr/g0": LR})))
    assert table.loc["hp/lr/g0", "status"] == "differs"  # never claims == for a rounded log
    assert table.loc["hp/lr/g0", "max_abs_diff"] <= max(LR) * 2.0**-24
    assert [note.split(":", 1)[0] for note in table.attrs["notes"]] == ["right"]
    assert "float32" in table.attrs["notes"][0] and "never with ==" in table.attrs["notes"][0]
    assert exact.diff(exact).attrs["notes"] == []


@pytest.mark.parametrize(
    ("keymap", "tags", "offset"),
    [
        ("lightning", {"lr-AdamW": LR, "lr-AdamW-weight_decay": WD}, 0),
        ("auto", {"lr-AdamW": LR, "lr-AdamW-weight_decay": WD}, 0),
        # transformers logs the lr of update k at global_step k + 1 (train/ prefix in TensorBoard)
        ("hf", {"train/learning_rate": LR}, 1),
        ({"my_lr": ("lr", "g0"), "my_wd": "hp/weight_decay/g0"}, {"my_lr": LR, "my_wd": WD}, 0),
    ],
    ids=["lightning", "auto", "hf", "dict"],
)
def test_foreign_float32_logs_through_each_keymap(tmp_path: Path, keymap, tags, offset) -> None:
    folder = _write(tmp_path / "tb", {**tags, "loss": [1.0 / (k + 1) for k in range(STEPS)]}, step_offset=offset)
    traj = ps.replay.load(folder, keymap=keymap)
    assert traj.frame.index.tolist() == list(range(STEPS))
    assert traj.frame["hp/lr/g0"].tolist() == _float32(LR)
    if "hp/weight_decay/g0" in traj.series:
        assert traj.frame["hp/weight_decay/g0"].tolist() == _float32(WD)
    assert _float32_noted(traj), traj.notes
    if keymap == "auto":
        assert any("lightning" in note for note in traj.notes), traj.notes


@pytest.mark.parametrize("keymap", ["hf", "auto"])
def test_a_hf_log_is_read_with_the_convention_of_the_transformers_that_wrote_it(tmp_path: Path, keymap) -> None:
    """The Trainer's TensorBoard callback writes the model config as the text ``model_config``:
    its ``transformers_version`` 4.48.1 means logged step s held update s's lr (not s - 1's)."""
    import json

    for version, first in (("4.48.1", 1), ("5.24.0", 0)):
        folder = tmp_path / version
        writer = SummaryWriter(log_dir=str(folder))
        writer.add_text("model_config", json.dumps({"model_type": "tiny", "transformers_version": version}))
        for k in range(STEPS):
            writer.add_scalar("train/learning_rate", LR[k], k + 1)
        writer.close()
        traj = ps.replay.load(folder, keymap=keymap)
        assert traj.frame.index.tolist() == list(range(first, STEPS + first))
        assert traj.frame["hp/lr/g0"].tolist() == _float32(LR)
        assert any(f"written by transformers {version}" in note for note in traj.notes), traj.notes


def test_a_recorder_file_beside_a_foreign_writers_file_is_read_with_it(tmp_path: Path) -> None:
    """A TensorBoardLogger's directory: its own float32 file and paramsched's float64 one."""
    folder = _write(tmp_path / "tb", {"loss": [1.0 / (k + 1) for k in range(STEPS)]})
    rec = TensorBoardRecorder(folder)
    rec.start({"format": "paramsched.run/1", "series": ["hp/lr/g0"], "total_steps": STEPS, "resumed_from_step": None})
    for k in range(STEPS):
        rec.record(k, {"hp/lr/g0": LR[k]})
    rec.close()
    traj = ps.replay.load(folder)
    assert traj.frame["hp/lr/g0"].tolist() == LR
    assert not _float32_noted(traj), traj.notes  # only loss is float32, and it is a metric
    assert traj.metrics["loss"].tolist() == _float32([1.0 / (k + 1) for k in range(STEPS)])


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        ("missing", FileNotFoundError, "no TensorBoard log at '.*missing': the path does not exist"),
        ("empty", ValueError, "holds no TensorBoard event file"),
    ],
)
def test_bad_paths_are_clear_errors(tmp_path: Path, target: str, error: type, match: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(error, match=match):
        ps.replay.load(f"tensorboard://{tmp_path / target}")
