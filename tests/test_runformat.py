"""The CSV run format is the replay contract: what paramsched writes, it reads back bit for bit."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramsched import runformat
from paramsched.events import make_event
from paramsched.recording.csv import CsvRecorder
from paramsched.replay import load
from paramsched.replay.trajectory import Trajectory

SERIES = ["hp/lr/g0", "hp/betas.0/head", "hp/weight_decay/blocks/0"]
finite = st.floats(allow_nan=False, allow_infinity=False)


def _metadata(series):
    return {"format": runformat.FORMAT, "total_steps": 10, "series": list(series), "resumed_from_step": None}


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=20))
def test_recorder_and_write_run_write_the_same_bytes_and_read_back_exactly(tmp_path_factory, rows):
    recorded, written = tmp_path_factory.mktemp("rec"), tmp_path_factory.mktemp("wr")
    with CsvRecorder(recorded) as rec:
        rec.start(_metadata(SERIES))
        for step, row in enumerate(rows):
            rec.record(step, dict(zip(SERIES, row, strict=True)))
    frame = pd.DataFrame(rows, columns=SERIES, index=pd.Index(range(len(rows)), name="step", dtype=np.int64))
    runformat.write_run(written, frame, _metadata(SERIES), overwrite=True)
    assert (recorded / "values.csv").read_bytes() == (written / "values.csv").read_bytes()
    back = load(recorded)
    for name in SERIES:
        assert back.frame[name].tolist() == [row[SERIES.index(name)] for row in rows]
    assert json.loads((recorded / "run.json").read_text()) == back.metadata


def test_events_metrics_and_holes_round_trip_through_to_csv(tmp_path):
    frame = pd.DataFrame(
        {"hp/lr/g0": [0.1, math.nan, 0.30000000000000004], "hp/lr/head": [1e-300, 2.5, -0.0]},
        index=pd.Index([0, 1, 5], name="step", dtype=np.int64),
    )
    metrics = pd.DataFrame({"loss": [0.5, math.nan], "val_loss": [math.nan, 0.25]},
                           index=pd.Index([0, 5], name="step", dtype=np.int64))
    events = [make_event(1, "intervention", series="hp/lr/g0", before=0.2, after=0.1,
                         spec={"type": "Constant", "value": 0.1}, reason="spike", time="t0")]
    traj = Trajectory(frame, _metadata(["hp/lr/g0", "hp/lr/head"]), "x", events=events, metrics=metrics)
    traj.to_csv(tmp_path / "run")
    back = load(tmp_path / "run")
    assert back.equals(traj)
    assert back.events == traj.events
    pd.testing.assert_frame_equal(back.metrics, metrics)
    assert back.frame["hp/lr/head"].tolist()[2] == 0.0 and math.copysign(1, back.frame["hp/lr/head"].iloc[2]) < 0


def test_the_header_accepts_only_series_names():
    assert runformat.header_line(SERIES) == "step," + ",".join(SERIES)
    for bad in ("hp/lr/a,b", 'hp/lr/"q"', "hp/lr/a\nb", "lr"):
        with pytest.raises(ValueError):
            runformat.header_line(["hp/lr/g0", bad])


def test_a_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    runformat.write_json_atomic(tmp_path / "run.json", {"a": 1})
    runformat.write_json_atomic(tmp_path / "run.json", {"a": 2})
    assert json.loads((tmp_path / "run.json").read_text()) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


@st.composite
def batches(draw):
    """Rows of one width whose cells reuse float objects, across columns and down a column."""
    width = draw(st.integers(1, 6))
    pool = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=8))
    pool += [0.0, -0.0, float("nan")]  # equal or unequal to themselves, printed differently
    count = draw(st.integers(1, 12))
    shape = st.lists(st.integers(0, len(pool) - 1), min_size=width, max_size=width)
    picks = draw(st.lists(shape, min_size=count, max_size=count))
    if draw(st.booleans()):  # a column made of one object all along, or a copy of another column
        column = draw(st.integers(0, width - 1))
        for pick in picks:
            pick[column] = picks[0][column] if draw(st.booleans()) else pick[0]
    return [[step, *(pool[i] for i in pick)] for step, pick in enumerate(picks)]


@given(batches())
def test_many_rows_at_once_are_the_same_text_as_row_by_row(rows):
    expected = "".join(runformat.format_row(row[0], row[1:]) for row in rows)
    assert runformat.format_rows(rows) == expected


def test_rows_that_share_float_objects_still_print_each_zero_with_its_sign():
    zero, minus = 0.0, -0.0
    rows = [[1, zero, minus, zero], [2, minus, minus, zero]]
    assert runformat.format_rows(rows) == "1,0.0,-0.0,0.0\n2,-0.0,-0.0,0.0\n"
    assert runformat.format_rows([]) == ""


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=16))
def test_a_row_is_each_floats_repr_with_nan_as_an_empty_cell(values):
    expected = ",".join("" if math.isnan(v) else repr(v) for v in values)
    assert runformat.format_row(7, values) == f"7,{expected}\n"
    assert runformat.format_row(7, [np.float64(v) for v in values]) == f"7,{expected}\n"
