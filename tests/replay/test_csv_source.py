"""CsvSource: the CSV run format read back exactly, and every anomaly named."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from paramsched.replay import Trajectory, load
from paramsched.replay.sources.csv import CsvSource


def test_hand_written_run_loads_exactly(run_dir, make_run, meta):
    metadata = meta(["hp/lr/g0", "hp/betas.0/head"], total_steps=3)
    make_run(
        run_dir,
        "step,hp/lr/g0,hp/betas.0/head\n"
        "0,0.0003,0.85\n"
        "1,0.00030000000000000003,0.8500000000000001\n"
        "2,1e-05,0.95\n",
        metadata,
    )
    traj = load(run_dir)
    assert isinstance(traj, Trajectory)
    assert traj.series == ["hp/lr/g0", "hp/betas.0/head"]
    assert traj.keys == ["lr", "betas.0"] and traj.groups == ["g0", "head"]
    assert traj.frame.index.name == "step" and traj.frame.index.dtype == np.int64
    assert traj.frame.index.tolist() == [0, 1, 2]
    assert all(traj.frame.dtypes == np.float64)
    assert traj.frame["hp/lr/g0"].tolist() == [0.0003, 0.00030000000000000003, 1e-05]
    assert traj.frame["hp/betas.0/head"].tolist() == [0.85, 0.8500000000000001, 0.95]
    assert traj.metadata == metadata
    assert traj.total_steps == 3
    assert traj.notes == ()
    assert traj.source == str(run_dir / "values.csv")


def test_values_csv_path_and_csv_scheme(run_dir, make_run, meta):
    make_run(run_dir, "step,hp/lr/g0\n0,0.5\n", meta(["hp/lr/g0"]))
    by_dir = load(run_dir)
    by_file = load(run_dir / "values.csv")
    by_scheme = load(f"csv://{run_dir}")
    assert by_dir.equals(by_file) and by_dir.equals(by_scheme)
    assert by_file.metadata == by_dir.metadata is not None


def test_random_float64_round_trip_is_bit_exact(run_dir, make_run, floats):
    values = floats(5000 * 3, seed=1).reshape(5000, 3)
    names = ["hp/lr/g0", "hp/lr/g1", "hp/weight_decay/g0"]
    lines = ["step," + ",".join(names)]
    lines += [f"{i}," + ",".join(map(repr, row)) for i, row in enumerate(values.tolist())]
    make_run(run_dir, "\n".join(lines) + "\n")
    got = load(run_dir).frame[names].to_numpy()
    assert got.dtype == np.float64
    # Compare the bits: == alone would accept -0.0 for 0.0.
    assert np.array_equal(got.view(np.uint64), values.view(np.uint64))
    assert (got == values).all()
    assert any(0 < abs(v) < 2.2250738585072014e-308 for v in got.ravel().tolist())  # subnormals present
    assert 0.1 + 0.2 in got.ravel().tolist()


def test_to_csv_round_trip_is_exact(tmp_path, floats, meta):
    values = floats(300, seed=2)
    frame = pd.DataFrame(
        {"hp/lr/g0": values[:100], "hp/lr/head": values[100:200], "hp/momentum/g0": values[200:]},
        index=pd.Index(range(100), name="step"),
    )
    frame.iloc[5, 1] = np.nan  # a hole must survive as a hole
    traj = Trajectory(frame, meta(list(frame.columns), total_steps=100), "mem")
    folder = traj.to_csv(tmp_path / "out")
    back = load(folder)
    assert back.equals(traj)
    assert np.array_equal(back.frame.to_numpy().view(np.uint64), frame.to_numpy().view(np.uint64))
    assert back.metadata == traj.metadata
    assert np.isnan(back.frame.iloc[5, 1])
    with pytest.raises(FileExistsError, match=r"values\.csv' already exists; pass overwrite=True"):
        traj.to_csv(folder)
    # No metadata: no run.json, and reading it back gives metadata=None again.
    Trajectory(frame).to_csv(folder, overwrite=True)
    assert not (folder / "run.json").exists()
    assert load(folder).metadata is None


def test_duplicated_steps_keep_the_last_row(run_dir, make_run):
    # A resumed run appends rows from its checkpoint step: the later rows win.
    make_run(
        run_dir,
        "step,hp/lr/g0\n0,1.0\n1,2.0\n2,3.0\n3,4.0\n2,30.0\n3,40.0\n4,50.0\n",
    )
    traj = load(run_dir)
    assert traj.frame.index.tolist() == [0, 1, 2, 3, 4]
    assert traj.frame["hp/lr/g0"].tolist() == [1.0, 2.0, 30.0, 40.0, 50.0]
    assert traj.notes == (
        "2 step(s) appear more than once (first: step 2); 2 of them hold different values (first: "
        "series 'hp/lr/g0' at step 2: 3.0, then 30.0): the value written last was kept",
        "steps were out of order (first: step 2 after step 3); they were sorted",
    )
    make_run(run_dir, "step,hp/lr/g0\n0,1.0\n1,2.0\n1,2.0\n")
    assert load(run_dir).notes == ("1 step(s) appear more than once (first: step 1), with the same values each time",)


def test_out_of_order_steps_are_sorted(run_dir, make_run):
    make_run(run_dir, "step,hp/lr/g0\n2,0.3\n0,0.1\n1,0.2\n")
    traj = load(run_dir)
    assert traj.frame.index.tolist() == [0, 1, 2]
    assert traj.frame["hp/lr/g0"].tolist() == [0.1, 0.2, 0.3]
    assert any("out of order (first: step 0 after step 2)" in n for n in traj.notes)


def test_unfinished_last_line_is_not_read_and_is_noted(run_dir, make_run):
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n1,0.2\n2,0.3")  # killed while writing step 2
    traj = load(run_dir)
    assert traj.frame["hp/lr/g0"].tolist() == [0.1, 0.2]
    assert any("unfinished last line" in n and "2,0.3" in n for n in traj.notes)


def test_empty_cell_is_a_missing_value(run_dir, make_run):
    make_run(run_dir, "step,hp/lr/g0,hp/lr/g1\n0,0.1,1.0\n1,,2.0\n2,0.3,3.0\n")
    traj = load(run_dir)
    assert np.isnan(traj.frame.loc[1, "hp/lr/g0"])
    steps, values = traj.values("hp/lr/g0")
    assert steps.tolist() == [0, 2] and values.tolist() == [0.1, 0.3]


def test_directory_without_run_json_has_no_metadata(run_dir, make_run):
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n")
    assert load(run_dir).metadata is None


def test_claims():
    src = CsvSource()
    assert not src.claims(pd.DataFrame())
    assert not src.claims("mlflow://abc")
    assert not src.claims("no/such/dir")


# -- anomalies: every message pinned ---------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "step,hp/lr/g0\n0,0.1\n12,abc\n",
            r"values\.csv: series 'hp/lr/g0' has a non-numeric value 'abc' at step 12$",
        ),
        (
            "step,hp/lr/g0\n0,0.1\n7,inf\n",
            r"values\.csv: series 'hp/lr/g0' has a non-finite value inf at step 7$",
        ),
        (
            "step,hp/lr/g0\n0,0.1\n3,nan\n",
            r"values\.csv: series 'hp/lr/g0' has a non-finite value 'nan' at step 3$",
        ),
        (
            "step,hp/lr/g0\n0,0.1\n1.5,0.2\n",
            r"values\.csv: column 'step' must hold integer steps, got 1\.5 at line 3$",
        ),
        (
            "step,hp/lr/g0\n0,0.1\nx,0.2\n",
            r"values\.csv: column 'step' must hold integer steps, got 'x' at line 3$",
        ),
        (
            "step,hp/lr/g0\n0,0.1\n-1,0.2\n",
            r"values\.csv: column 'step' must hold steps >= 0, got -1 at line 3$",
        ),
        (
            "step,hp/lr/g0,hp/lr/g0\n0,0.1,0.2\n",
            r"values\.csv: column\(s\) \['hp/lr/g0'\] appear more than once in the header$",
        ),
        (
            "stp,hp/lr/g0\n0,0.1\n",
            r"values\.csv: no step column; expected one of \['step'\]",
        ),
        (
            "step,lr-AdamW\n0,0.1\n",
            r"values\.csv: no series columns 'hp/<key>/<group>'; columns: \['lr-AdamW'\]; for a log that "
            r"paramsched did not write pass keymap='lightning'",
        ),
        (
            "step,hp/lr\n0,0.1\n",
            r"values\.csv: series name must look like 'hp/<key>/<group>', got 'hp/lr'",
        ),
        (
            "step,hp/lr/g0\n",
            r"values\.csv: the log has no rows$",
        ),
        (
            "step,hp/lr/g0,hp/lr/g1\n0,0.1,\n1,0.2,\n",
            r"values\.csv: series 'hp/lr/g1' has no values$",
        ),
        (
            "",
            r"values\.csv: the file is empty",
        ),
        (
            "step,hp/lr/g0\n0,0.1,0.3,0.4\n1,0.2,9,9\n",
            r"values\.csv: not a readable CSV table",
        ),
    ],
)
def test_anomalies_name_file_series_and_step(run_dir, make_run, text, message):
    make_run(run_dir, text)
    if text == "":
        (run_dir / "values.csv").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(str(run_dir)) + "/" + message):
        load(run_dir)


def test_bad_run_json(run_dir, make_run):
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n")
    (run_dir / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run\.json: not valid JSON"):
        load(run_dir)
    (run_dir / "run.json").write_text(json.dumps({"format": "other/9"}))
    with pytest.raises(ValueError, match=r"run\.json: run metadata must have format='paramsched\.run/1', got 'other/9'"):
        load(run_dir)


def test_directory_without_values_csv(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty' is a directory without values\.csv: not a CSV run"):
        CsvSource().load(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"no replay source can read .*empty.*registered sources: csv \(a CSV run"):
        load(tmp_path / "empty")


def test_row_longer_than_the_header_is_an_error(run_dir, make_run):
    # e.g. a resumed writer appending onto an unfinished line: never cut silently
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n1,0.22,0.3\n2,0.3\n")
    with pytest.raises(ValueError, match=r"values\.csv: not a readable CSV table: .*Expected 2 fields in line 3, saw 3"):
        load(run_dir)


def test_hp_step_column_is_checked_not_read(run_dir, make_run):
    make_run(run_dir, "step,hp/step,hp/lr/g0\n0,0,0.1\n1,1,0.2\n")
    assert load(run_dir).series == ["hp/lr/g0"]
    make_run(run_dir, "step,hp/step,hp/lr/g0\n0,0,0.1\n1,5,0.2\n")
    with pytest.raises(ValueError, match=r"values\.csv: column 'hp/step' disagrees with column 'step' at line 3: 5 != 1"):
        load(run_dir)


# -- issue 11 item 7: what the reader used to accept silently ----------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("step,hp/lr/g0\n0,0.1\n1,1_0\n", r"series 'hp/lr/g0' has a non-numeric value '1_0' at step 1$"),
        ("step,hp/lr/g0\n0,0.1\n1_0,0.2\n", r"column 'step' must hold integer steps, got '1_0' at line 3$"),
        (
            "step,hp/lr/g0\n0,0.1\n99999999999999999999,0.2\n",
            r"column 'step' must hold steps < 2\*\*63 \(int64\), got 99999999999999999999 at line 3$",
        ),
        (
            "step,hp/lr/g0\n0,0.1\n9223372036854775808,0.2\n",
            r"column 'step' must hold steps < 2\*\*63 \(int64\), got 9223372036854775808 at line 3$",
        ),
    ],
)
def test_numbers_python_would_stretch_are_errors(run_dir, make_run, text, message):
    make_run(run_dir, text)
    with pytest.raises(ValueError, match=re.escape(str(run_dir)) + r"/values\.csv: " + message):
        load(run_dir)


def test_a_short_row_is_noted(run_dir, make_run):
    make_run(run_dir, "step,hp/lr/g0,hp/lr/g1\n0,0.1,1.0\n1,0.2\n2,0.3,3.0\n3\n")
    traj = load(run_dir)
    assert traj.notes[0] == (
        "2 row(s) have fewer cells than the header's 3 (first: line 3, 2 cell(s)): their missing "
        "cells were read as not logged"
    )
    assert np.isnan(traj.frame.loc[1, "hp/lr/g1"])
    # quoted cells (a foreign log) are split by the csv module, commas inside quotes included
    path = run_dir / "log.csv"
    path.write_text('step,lr-SGD,tag\n0,0.1,"a,b"\n1,0.2\n')
    assert load(path, keymap="lightning").notes[0].startswith("1 row(s) have fewer cells than the header's 3 (first: line 3")
    make_run(run_dir, "step,hp/lr/g0\r\n0,0.1\r\n\r\n1,0.2\r\n")  # blank lines are not rows
    assert load(run_dir).notes == ()


def test_header_series_must_be_those_of_run_json(run_dir, make_run, meta):
    make_run(run_dir, "step,hp/lr/g0,hp/lr/head\n0,0.1,1.0\n", meta(["hp/lr/g0", "hp/lr/body"], total_steps=1))
    with pytest.raises(
        ValueError,
        match=r"values\.csv: the header holds series \['hp/lr/head'\] that run\.json does not list \(it lists "
        r"\['hp/lr/g0', 'hp/lr/body'\]\): values\.csv and run\.json describe different runs$",
    ):
        load(run_dir)
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n", meta(["hp/lr/g0", "hp/lr/body"], total_steps=1))
    assert load(run_dir).notes == ("run.json lists series ['hp/lr/body'] that values.csv does not hold",)


def test_a_run_cut_at_a_row_boundary_or_missing_a_step_is_noted(run_dir, make_run, meta):
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n1,0.2\n2,0.3\n", meta(["hp/lr/g0"], total_steps=10))
    assert load(run_dir).notes == (
        "the log ends at step 2 but the run has total_steps=10: the run stopped early (or is still "
        "running), or the end of the log was cut",
    )
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n1,0.2\n4,0.5\n", meta(["hp/lr/g0"], total_steps=5))
    assert load(run_dir).notes == (
        "hp/lr/g0: 2 of the steps 0..4 are missing (first missing step: 2): paramsched records every "
        "update, so these values were lost or never written (a killed writer, a cut or edited file); a "
        "replay fails at the first missing step",
    )
    # a run resumed into a fresh directory starts at its resume step: nothing is missing
    make_run(run_dir, "step,hp/lr/g0\n3,0.4\n4,0.5\n", meta(["hp/lr/g0"], total_steps=5, resumed_from_step=3))
    assert load(run_dir).notes == ()
    make_run(run_dir, "step,hp/lr/g0\n0,0.1\n1,0.2\n", meta(["hp/lr/g0"], total_steps=2))
    assert load(run_dir).notes == ()

