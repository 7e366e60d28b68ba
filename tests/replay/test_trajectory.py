"""Trajectory: construction checks, selection, group mapping, rescaling, diff, plot."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from paramsched.replay import ReplaySchedule, Trajectory, load


def wide(**series) -> pd.DataFrame:
    n = len(next(iter(series.values())))
    return pd.DataFrame({"step": range(n), **{k.replace("__", "/"): v for k, v in series.items()}})


def make(values: dict[str, list[float]], steps=None, metadata=None) -> Trajectory:
    n = len(next(iter(values.values())))
    frame = pd.DataFrame(values, index=pd.Index(steps if steps is not None else range(n), name="step"), dtype=np.float64)
    return Trajectory(frame, metadata, "mem")


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame, error, message",
    [
        ([1, 2], TypeError, r"frame must be a pandas DataFrame, got frame=\[1, 2\]"),
        (pd.DataFrame({"hp/lr/g0": [0.1]}), ValueError, r"mem: the frame index must be named 'step', got None"),
        (
            pd.DataFrame({"hp/lr/g0": [0.1, 0.2]}, index=pd.Index([1, 0], name="step")),
            ValueError,
            r"mem: steps must be sorted and unique, got step 0 after step 1",
        ),
        (
            pd.DataFrame({"hp/lr/g0": [0.1]}, index=pd.Index([-2], name="step")),
            ValueError,
            r"mem: steps must be >= 0, got step -2",
        ),
        (
            pd.DataFrame({"hp/lr/g0": [0.1]}, index=pd.Index([0.5], name="step")),
            TypeError,
            r"mem: the step index must hold integers, got dtype float64",
        ),
        (
            pd.DataFrame({"hp/lr/g0": [1]}, index=pd.Index([0], name="step")),
            TypeError,
            r"mem: series 'hp/lr/g0' must be float64, got dtype int64",
        ),
        (
            pd.DataFrame({"hp/lr/g0": [np.inf]}, index=pd.Index([4], name="step")),
            ValueError,
            r"mem: series 'hp/lr/g0' has a non-finite value at step 4",
        ),
        (
            pd.DataFrame({"lr": [0.1]}, index=pd.Index([0], name="step")),
            ValueError,
            r"mem: series name must look like 'hp/<key>/<group>', got 'lr'",
        ),
        (
            pd.DataFrame({"hp/lr/g#0": [0.1]}, index=pd.Index([0], name="step")),
            ValueError,
            r"mem: the group label in series 'hp/lr/g#0' may contain only letters",
        ),
    ],
)
def test_constructor_checks(frame, error, message):
    with pytest.raises(error, match=message):
        Trajectory(frame, None, "mem")


def test_constructor_argument_types():
    frame = pd.DataFrame({"hp/lr/g0": [0.1]}, index=pd.Index([0], name="step"))
    with pytest.raises(TypeError, match=r"metadata must be a dict or None, got metadata=\[\]"):
        Trajectory(frame, [])
    with pytest.raises(TypeError, match=r"source must be a string, got source=3"):
        Trajectory(frame, None, 3)


def test_properties_and_values():
    traj = make({"hp/lr/g0": [0.1, np.nan, 0.3], "hp/lr/head": [1.0, 2.0, 3.0], "hp/betas.0/g0": [0.9, 0.9, 0.9]})
    assert traj.series == ["hp/lr/g0", "hp/lr/head", "hp/betas.0/g0"]
    assert traj.keys == ["lr", "betas.0"]
    assert traj.groups == ["g0", "head"]
    assert traj.total_steps == 3 and len(traj) == 3
    steps, values = traj.values("hp/lr/g0")
    assert steps.tolist() == [0, 2] and values.tolist() == [0.1, 0.3]
    with pytest.raises(ValueError, match=r"mem: no series 'hp/wd/g0'; series: \['hp/lr/g0'"):
        traj.values("hp/wd/g0")
    assert repr(traj) == "Trajectory(source='mem', steps 0..2, series=['hp/lr/g0', 'hp/lr/head', 'hp/betas.0/g0'])"
    assert make({"hp/lr/g0": [0.1]}, metadata={"total_steps": 10}).total_steps == 10


# -- DataFrame source: long and wide -------------------------------------------------------


def test_dataframe_long_form():
    df = pd.DataFrame(
        {
            "step": [1, 0, 0, 1, 1, 2],
            "key": ["lr", "lr", "lr", "lr", "lr", "lr"],
            "group": ["g0", "g0", "head", "head", "g0", "g0"],
            "value": [0.2, 0.1, 1.0, 2.0, 0.25, 0.3],
        }
    )
    traj = load(df)
    assert traj.series == ["hp/lr/g0", "hp/lr/head"]  # order of first appearance
    assert traj.frame.index.tolist() == [0, 1, 2]
    assert traj.frame["hp/lr/g0"].tolist() == [0.1, 0.25, 0.3]  # duplicate step 1: last row wins
    head = traj.frame["hp/lr/head"].tolist()
    assert head[:2] == [1.0, 2.0] and np.isnan(head[2])
    assert any("hp/lr/g0" in n and "more than once" in n for n in traj.notes)


def test_dataframe_long_form_int_group_and_errors():
    df = pd.DataFrame({"step": [0], "key": ["lr"], "group": [1], "value": [0.5]})
    assert load(df).series == ["hp/lr/g1"]
    bad = pd.DataFrame({"step": [0, 3], "key": ["lr", "lr"], "group": ["g0", "g0"], "value": [0.1, "x"]})
    with pytest.raises(ValueError, match=r"^DataFrame: series 'hp/lr/g0' has a non-numeric value 'x' at step 3$"):
        load(bad)
    bad_key = pd.DataFrame({"step": [0], "key": ["l/r"], "group": ["g0"], "value": [0.1]})
    with pytest.raises(ValueError, match=r"^DataFrame: a scheduled key may contain only .* got key='l/r' \(at row 0\)$"):
        load(bad_key)
    with pytest.raises(ValueError, match=r"runX: a long table needs columns \['step', 'key', 'group', 'value'\], missing \['value'\]"):
        Trajectory.from_long(pd.DataFrame({"step": [0], "key": ["lr"], "group": ["g0"]}), source="runX")
    with pytest.raises(ValueError, match=r"keymap= and step_column= apply to wide tables only"):
        load(pd.DataFrame({"step": [0], "key": ["lr"], "group": ["g0"], "value": [0.1]}), keymap="hf")


def test_dataframe_wide_form_column_or_index():
    df = pd.DataFrame({"step": [2, 0, 1], "hp/lr/g0": [0.3, 0.1, 0.2], "hp/wd/g0": [3, 1, 2]})
    by_column = load(df)
    by_index = load(df.set_index("step"))
    assert by_column.equals(by_index)
    assert by_column.frame["hp/lr/g0"].tolist() == [0.1, 0.2, 0.3]
    assert by_column.frame["hp/wd/g0"].tolist() == [1.0, 2.0, 3.0]
    assert by_column.frame["hp/wd/g0"].dtype == np.float64
    with pytest.raises(ValueError, match=r"^DataFrame: series 'hp/lr/g0' has a non-finite value inf at step 1$"):
        load(pd.DataFrame({"step": [0, 1], "hp/lr/g0": [0.1, np.inf]}))
    with pytest.raises(ValueError, match=r"^mine: series 'hp/lr/g0' has a non-numeric value True at step 0$"):
        Trajectory.from_wide(pd.DataFrame({"step": [0], "hp/lr/g0": [True]}), source="mine")
    with pytest.raises(ValueError, match=r"DataFrame: column 'step' must hold integer steps, got 0\.5 at row 1"):
        load(pd.DataFrame({"step": [0, 0.5], "hp/lr/g0": [0.1, 0.2]}))


def test_wide_nan_holes_and_all_empty_rows_dropped():
    df = pd.DataFrame({"step": [0, 1, 2, 3], "hp/lr/g0": [0.1, np.nan, np.nan, 0.4], "hp/lr/g1": [1.0, 2.0, np.nan, 4.0]})
    traj = load(df)
    assert traj.frame.index.tolist() == [0, 1, 3]  # step 2 has no value at all
    assert traj.values("hp/lr/g0")[0].tolist() == [0, 3]


# -- selection and group mapping -------------------------------------------------------------


def test_select_keys_and_groups():
    traj = make({"hp/lr/g0": [0.1], "hp/lr/g1": [0.2], "hp/wd/g0": [0.3]}, metadata={"total_steps": 1})
    assert traj.select(keys=["lr"]).series == ["hp/lr/g0", "hp/lr/g1"]
    assert traj.select(keys="wd").series == ["hp/wd/g0"]
    assert traj.select(groups=["g0"]).series == ["hp/lr/g0", "hp/wd/g0"]
    assert traj.select(keys="lr").metadata == traj.metadata  # values unchanged: metadata kept
    with pytest.raises(ValueError, match=r"mem: keys \['momentum'\] not in this trajectory; it has keys \['lr', 'wd'\]"):
        traj.select(keys=["momentum"])
    with pytest.raises(TypeError, match=r"keys must be a string or a list of strings, got keys=3"):
        traj.select(keys=3)


def test_with_groups_and_schedules_group_mapping():
    traj = make({"hp/lr/g0": [0.1, 0.2], "hp/lr/g1": [1.0, 2.0]}, metadata={"total_steps": 2})
    renamed = traj.with_groups({"g1": "head"})
    assert renamed.series == ["hp/lr/g0", "hp/lr/head"] and renamed.metadata is None
    sched = traj.schedules(groups={"g0": "body", "g1": "head"})
    assert list(sched) == [("lr", "body"), ("lr", "head")]
    assert sched[("lr", "head")](1, 2) == 2.0
    with pytest.raises(ValueError, match=r"mem: groups \['g7'\] not in this trajectory; it has groups \['g0', 'g1'\]"):
        traj.with_groups({"g7": "x"})
    with pytest.raises(ValueError, match=r"gives several groups the label\(s\) \['g1'\]"):
        traj.with_groups({"g0": "g1"})
    with pytest.raises(ValueError, match=r"a new group label may contain only .* got groups\['g0'\]='a,b'"):
        traj.with_groups({"g0": "a,b"})


def test_schedules_keys_and_policies():
    traj = make({"hp/lr/g0": [0.1, 0.3], "hp/wd/g0": [0.0, 0.0]}, steps=[0, 2])
    only_lr = traj.schedules(keys=["lr"], gaps="linear", after_end="hold")
    assert list(only_lr) == [("lr", "g0")]
    s = only_lr[("lr", "g0")]
    assert isinstance(s, ReplaySchedule) and (s.gaps, s.after_end) == ("linear", "hold")
    assert s(1, 3) == 0.1 + (0.3 - 0.1) * 0.5 and s(5, 3) == 0.3
    strict = traj.schedules()[("lr", "g0")]
    with pytest.raises(ValueError, match=r"^mem: series 'hp/lr/g0': step 1 is missing from the log"):
        strict(1, 3)
    with pytest.raises(ValueError, match=r"gaps must be one of 'error', 'previous', 'linear', got gaps='zero'"):
        traj.schedules(gaps="zero")


# -- rescale and fill --------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
def test_rescaled_twice_as_long_at_fractions(interpolation):
    old = 1000
    values = np.cos(np.arange(old) / old * np.pi) * 1e-3 + 1e-3
    traj = make({"hp/lr/g0": values.tolist()}, metadata={"total_steps": old})
    new = 2 * old
    out = traj.rescaled(new, interpolation)
    assert out.frame.index.tolist() == list(range(new)) and out.metadata is None
    got = out.frame["hp/lr/g0"]
    # fractions 0, 0.25, 0.5 land exactly on recorded steps: exact values
    for frac in (0, 0.25, 0.5):
        assert got[int(frac * new)] == values[int(frac * old)]
    # fraction 1 (the last step, 1999) reads old position 999.5
    if interpolation == "nearest":
        assert got[new - 1] == values[old - 1]  # rounds up to 1000, capped at 999
        assert got[1] == values[1]  # 0.5 rounds up to step 1
    else:
        assert got[new - 1] == values[old - 1]  # v[1000] is taken as v[999]
        assert got[1] == values[0] + 0.5 * (values[1] - values[0])


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
def test_rescaled_shorter(interpolation):
    traj = make({"hp/lr/g0": [float(i) for i in range(8)]})
    out = traj.rescaled(4, interpolation)["hp/lr/g0"] if False else traj.rescaled(4, interpolation).frame["hp/lr/g0"]
    assert out.tolist() == [0.0, 2.0, 4.0, 6.0]
    three = traj.rescaled(3, interpolation).frame["hp/lr/g0"].tolist()  # positions 0, 8/3, 16/3
    assert three == ([0.0, 3.0, 5.0] if interpolation == "nearest" else [0.0, 2.0 + 2 / 3, 5.0 + 1 / 3])


def test_rescaled_needs_every_step_and_filled_provides_them():
    traj = make({"hp/lr/g0": [0.0, 2.0, 4.0]}, steps=[0, 2, 4])
    with pytest.raises(ValueError, match=r"mem: series 'hp/lr/g0' has no value at step 1; rescaled\(\) needs every step 0\.\.4"):
        traj.rescaled(10)
    filled = traj.filled("linear")
    assert filled.frame["hp/lr/g0"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert traj.filled("previous").frame["hp/lr/g0"].tolist() == [0.0, 0.0, 2.0, 2.0, 4.0]
    assert filled.rescaled(10, "linear").frame["hp/lr/g0"].tolist()[::2] == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match=r"interpolation must be one of 'nearest', 'linear', got interpolation='cubic'"):
        filled.rescaled(10, "cubic")
    with pytest.raises(ValueError, match=r"total_steps must be an int >= 1, got total_steps=0"):
        filled.rescaled(0)


# -- diff ----------------------------------------------------------------------------------


def test_diff_reports_first_divergence_and_one_sided_series():
    a = make({"hp/lr/g0": [0.1, 0.2, 0.3, 0.4], "hp/lr/g1": [1.0, 1.0, 1.0, 1.0], "hp/wd/g0": [0.0] * 4})
    b = make({"hp/lr/g0": [0.1, 0.2, 0.35, 0.5], "hp/lr/g1": [1.0, 1.0, 1.0, 1.0], "hp/mom/g0": [0.9] * 4})
    d = a.diff(b)
    assert d.index.tolist() == ["hp/lr/g0", "hp/lr/g1", "hp/wd/g0", "hp/mom/g0"]
    row = d.loc["hp/lr/g0"]
    assert row["status"] == "differs" and row["first_diverging_step"] == 2
    assert (row["left_value"], row["right_value"]) == (0.3, 0.35)
    assert row["max_abs_diff"] == max(abs(0.3 - 0.35), abs(0.4 - 0.5))
    assert row["steps_compared"] == 4
    same = d.loc["hp/lr/g1"]
    assert same["status"] == "equal" and same["first_diverging_step"] is None and same["max_abs_diff"] == 0.0
    assert d.loc["hp/wd/g0", "status"] == "only_left" and d.loc["hp/mom/g0", "status"] == "only_right"
    assert a.diff(a)["status"].eq("equal").all()


def test_diff_is_nan_safe_and_counts_missing_steps():
    a = make({"hp/lr/g0": [0.1, np.nan, 0.3]})
    b = make({"hp/lr/g0": [0.1, np.nan, 0.3]})
    assert a.diff(b).loc["hp/lr/g0", "status"] == "equal"
    c = make({"hp/lr/g0": [0.1, 0.2, 0.3]})
    row = a.diff(c).loc["hp/lr/g0"]
    assert row["first_diverging_step"] == 1 and np.isnan(row["left_value"]) and row["right_value"] == 0.2
    assert row["max_abs_diff"] == 0.0 and row["steps_compared"] == 2
    with pytest.raises(TypeError, match=r"right must be a Trajectory"):
        a.diff("x")


# -- plot ----------------------------------------------------------------------------------


def test_plot_draws_one_panel_per_key():
    import matplotlib

    matplotlib.use("Agg")
    traj = make({"hp/lr/g0": [0.1, 0.2], "hp/lr/g1": [1.0, 2.0], "hp/wd/g0": [0.0, 0.1]})
    fig = traj.plot()
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["lr", "wd"]
    assert [line.get_label() for line in axes[0].get_lines()] == ["g0", "g1"]
    assert axes[0].get_lines()[1].get_ydata().tolist() == [1.0, 2.0]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_without_matplotlib_names_the_pip_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"^Trajectory\.plot\(\) needs matplotlib: pip install matplotlib$"):
        make({"hp/lr/g0": [0.1]}).plot()


def test_equals_ignores_the_order_of_the_series_but_not_their_values():
    import pandas as pd

    from paramsched.replay import Trajectory

    frame = pd.DataFrame({"hp/lr/g0": [0.1, 0.2], "hp/momentum/g0": [0.9, 0.8]},
                         index=pd.Index([0, 1], name="step"))
    a = Trajectory.from_wide(frame)
    b = Trajectory.from_wide(frame[["hp/momentum/g0", "hp/lr/g0"]])
    assert a.equals(b)
    changed = frame.copy()
    changed.loc[1, "hp/lr/g0"] = 0.2000000000000001
    assert not a.equals(Trajectory.from_wide(changed))
