"""Logs paramsched did not write: key maps' step conventions, keymap='auto', metrics, sparse
logs, groups='broadcast', and the table_columns API the tracker sources build on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import paramsched as ps
from paramsched.replay import Trajectory, load
from paramsched.replay._columns import table_columns
from paramsched.replay.keymaps import (
    DictKeyMap,
    HFKeyMap,
    KeyMap,
    LightningKeyMap,
    ParamschedKeyMap,
    TimmKeyMap,
    choose_keymap,
    timm,
)

# A Trainer log_history: training rows (learning_rate at global_step k + 1 for update k),
# an eval row at a step that also has a training row, and the end-of-training summary row.
LOG_HISTORY = [
    {"epoch": 0.5, "grad_norm": 1.5, "learning_rate": 0.0, "loss": 3.0, "step": 1},
    {"epoch": 1.0, "grad_norm": 1.2, "learning_rate": 0.005, "loss": 2.5, "step": 2},
    {"epoch": 1.0, "eval_loss": 2.6, "eval_runtime": 0.1, "step": 2},
    {"epoch": 1.5, "grad_norm": 1.0, "learning_rate": 0.01, "loss": 2.0, "step": 3},
    {"epoch": 1.5, "train_runtime": 4.2, "train_samples_per_second": 9.5, "train_steps_per_second": 0.7,
     "total_flos": 12.0, "train_loss": 2.5, "step": 3},
]


def test_hf_log_history_steps_metrics_and_summary_row():
    traj = load(pd.DataFrame(LOG_HISTORY), keymap="hf")
    assert traj.frame["hp/lr/g0"].to_dict() == {0: 0.0, 1: 0.005, 2: 0.01}
    assert list(traj.metrics.columns) == ["epoch", "grad_norm", "loss", "eval_loss", "eval_runtime"]
    assert traj.metrics["loss"].to_dict() == {0: 3.0, 1: 2.5, 2: 2.0}
    assert traj.metrics["eval_loss"].dropna().to_dict() == {1: 2.6}
    # The summary row is not a step logged twice, and its totals are not per-step metrics.
    assert traj.notes == (
        "Hugging Face Trainer log: the lr of update k is logged at global_step k + 1, so logged step s "
        "was read as update s - 1 (transformers >= 4.51; an older transformers logged the lr of the next "
        "update: pass keymap=paramsched.replay.keymaps.hf(transformers_version=...))",
        "column(s) ['train_runtime', 'train_samples_per_second', 'train_steps_per_second', "
        "'total_flos', 'train_loss'] are not per-step metrics: not read",
    )
    assert not any("more than once" in note for note in traj.notes)


def test_hf_row_before_the_first_update_is_not_read():
    rows = [{"eval_loss": 9.0, "step": 0}] + LOG_HISTORY[:2]  # TrainingArguments(eval_on_start=True)
    traj = load(pd.DataFrame(rows), keymap="hf")
    assert traj.frame.index.tolist() == [0, 1] and traj.metrics.index.tolist() == [0, 1]
    assert "eval_loss" not in traj.metrics.columns
    assert "1 row(s) logged at step 0 or earlier come before the first update and were not read" in traj.notes


def test_a_log_written_by_transformers_before_4_51_holds_the_next_updates_lr():
    """transformers <= 4.50 stepped the scheduler before logging: the lr at global_step s is
    the lr of update s (PR #36973 changed it in 4.51); update 0's lr is not in such a log."""
    old = pd.DataFrame({"step": [1, 2, 3], "learning_rate": [0.005, 0.01, 0.0075]})
    traj = load(old, keymap=ps.replay.keymaps.hf(transformers_version="4.48.1"))
    assert traj.frame["hp/lr/g0"].to_dict() == {1: 0.005, 2: 0.01, 3: 0.0075}
    assert traj.notes[0] == (
        "Hugging Face Trainer log written by transformers 4.48.1: before 4.51 the Trainer logged the lr "
        "of the NEXT update at global_step k + 1, so logged step s was read as update s; update 0's lr is "
        "not in the log"
    )
    for version, offset in (("4.50.3", 0), ("4.51.0", 1), ("5.0.0.dev0", 1), ("v4.40.2", 0), ("10.1", 1)):
        assert HFKeyMap(transformers_version=version).step_offset == offset, version
    new = load(old, keymap=ps.replay.keymaps.hf(transformers_version="4.57.0"))
    assert new.frame.index.tolist() == [0, 1, 2]
    assert new.notes[0].startswith("Hugging Face Trainer log written by transformers 4.57.0: the lr of update k")
    assert HFKeyMap(step_offset=1, transformers_version="4.40.0").step_offset == 1  # an explicit offset wins
    with pytest.raises(ValueError, match=r"^transformers_version must be a version such as '4\.48\.1', got transformers_version='latest'$"):
        HFKeyMap(transformers_version="latest")


def test_hf_keymap_step_offset_can_be_changed():
    df = pd.DataFrame({"step": [1, 2], "learning_rate": [0.1, 0.2]})
    assert load(df, keymap=ps.replay.keymaps.hf(step_offset=0)).frame.index.tolist() == [1, 2]
    assert HFKeyMap().to_updates(np.array([5])).tolist() == [4]
    with pytest.raises(TypeError, match=r"^step_offset must be an int, got step_offset=1\.0$"):
        HFKeyMap(step_offset=1.0)


@pytest.mark.parametrize(
    "columns, chosen, note",
    [
        (["step", "hp/lr/g0", "loss"], ParamschedKeyMap, None),
        (["step", "learning_rate", "loss"], HFKeyMap, "('hf': found 'learning_rate')"),
        (["train/global_step", "train/learning_rate"], HFKeyMap, "('hf': found 'train/learning_rate')"),
        (["step", "lr-SGD/pg1", "epoch"], LightningKeyMap, "('lightning': found 'lr-SGD')"),
        (["epoch", "train_loss", "lr"], TimmKeyMap, "('timm': found 'lr' and 'epoch')"),
    ],
)
def test_auto_picks_the_convention_and_says_so(columns, chosen, note):
    km, notes = choose_keymap("auto", columns, source="log")
    assert type(km) is chosen
    if note is None:
        assert notes == []
    else:
        assert note in notes[0] and notes[0].startswith("keymap='auto' read this log as ")


def test_auto_errors():
    with pytest.raises(ValueError, match=r"^log: keymap='auto' found no known names: .*columns: \['step', 'x'\]; pass a dict keymap"):
        choose_keymap("auto", ["step", "x"], source="log")
    with pytest.raises(ValueError, match=r"found several Lightning optimizers \['lr-Adam', 'lr-SGD'\]"):
        choose_keymap("auto", ["step", "lr-Adam", "lr-SGD"], source="log")


def test_paramsched_names_with_other_columns_read_the_rest_as_metrics():
    # What a Lightning logger holds when paramsched's callback logs through it: hp/ series among
    # Lightning's own columns. No keymap needed.
    df = pd.DataFrame({"step": [0, 1, 1], "epoch": [0, 0, np.nan], "hp/lr/g0": [0.1, np.nan, 0.2],
                       "train_loss": [1.0, 0.5, np.nan]})
    traj = load(df)
    assert traj.frame["hp/lr/g0"].to_dict() == {0: 0.1, 1: 0.2}
    assert traj.metrics.to_dict("list") == {"epoch": [0.0, 0.0], "train_loss": [1.0, 0.5]}
    assert traj.notes == ()


def test_duplicates_are_named_only_when_a_value_was_chosen_over_another():
    merged = load(pd.DataFrame({"step": [0, 0, 1], "hp/lr/g0": [0.1, np.nan, 0.2], "hp/lr/g1": [np.nan, 1.0, 2.0]}))
    assert merged.notes == () and merged.frame.loc[0].tolist() == [0.1, 1.0]
    twice = load(pd.DataFrame({"step": [0, 1, 1], "hp/lr/g0": [0.1, 0.2, 0.25]}))
    assert twice.notes == (
        "1 step(s) appear more than once (first: step 1); 1 of them hold different values (first: "
        "series 'hp/lr/g0' at step 1: 0.2, then 0.25): the value written last was kept",
    )
    assert twice.frame["hp/lr/g0"].tolist() == [0.1, 0.25]


def test_metrics_are_lenient_and_say_what_they_left_out():
    df = pd.DataFrame({
        "step": [0, 1, 2], "hp/lr/g0": [0.1, 0.2, 0.3],
        "loss": [1.0, math.inf, 0.5], "tag": ["a", "b", "c"], "_runtime": [1.0, 2.0, 3.0], "empty": [np.nan] * 3,
    })
    traj = load(df)
    assert list(traj.metrics.columns) == ["loss"]
    assert traj.metrics["loss"].to_dict() == {0: 1.0, 2: 0.5}  # step 1 held no finite metric
    assert traj.notes == (
        "column(s) ['tag'] hold non-numeric values: not read as metrics",
        "metric column(s) ['loss'] hold non-finite values (inf, nan): read as not logged",
    )


def test_dict_keymap_options_and_document():
    df = pd.DataFrame({"it": [1, 2, 3], "my_lr": [0.1, 0.2, 0.3], "loss": [3.0, 2.0, 1.0]})
    km = DictKeyMap({"my_lr": ["lr", 0]}, step_column="it", step_offset=1)
    traj = load(df, keymap=km)
    assert traj.frame["hp/lr/g0"].to_dict() == {0: 0.1, 1: 0.2, 2: 0.3}
    assert traj.metrics["loss"].to_dict() == {0: 3.0, 1: 2.0, 2: 1.0}
    assert traj.notes == ("logged step s holds update s - 1 (step_offset=1)",)
    doc = DictKeyMap.from_document({"columns": {"my_lr": ["lr", "g0"]}, "step_column": "it", "step_offset": 1})
    assert load(df, keymap=doc).equals(traj)
    assert DictKeyMap.from_document({"my_lr": "hp/lr/g0"}).mapping == {"my_lr": "hp/lr/g0"}
    with pytest.raises(ValueError, match=r"^k\.json: unknown entries \['step'\]; a keymap document holds"):
        DictKeyMap.from_document({"columns": {"my_lr": ["lr", "g0"]}, "step": "it"}, where="k.json")
    with pytest.raises(TypeError, match=r"^k\.json must hold a JSON object \{column: \[key, group\]\}, got list$"):
        DictKeyMap.from_document([1], where="k.json")
    with pytest.raises(TypeError, match=r"^step_offset must be an int, got step_offset='1'$"):
        DictKeyMap({"my_lr": ["lr", 0]}, step_offset="1")


def test_timm_summary_epochs_and_updates_per_epoch():
    summary = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [2.3, 2.0, 1.8], "eval_loss": [2.1, 1.9, 1.7],
                            "eval_top1": [10.0, 20.0, 30.0], "lr": [0.1, 0.05, 0.01]})
    by_epoch = load(summary, keymap="timm")
    assert by_epoch.frame["hp/lr/g0"].to_dict() == {0: 0.1, 1: 0.05, 2: 0.01}
    assert list(by_epoch.metrics.columns) == ["train_loss", "eval_loss", "eval_top1"]
    assert "its lr is the mean over the param groups" in by_epoch.notes[0]
    by_update = load(summary, keymap=timm(updates_per_epoch=4))
    assert by_update.frame.index.tolist() == [0, 4, 8] and by_update.metrics.index.tolist() == [0, 4, 8]
    lr = by_update.schedules(gaps="previous", after_end="hold")[("lr", "g0")]
    assert [lr(k, 12) for k in range(12)] == [0.1] * 4 + [0.05] * 4 + [0.01] * 4
    with pytest.raises(ValueError, match=r"^updates_per_epoch must be an int >= 1, got updates_per_epoch=0$"):
        timm(updates_per_epoch=0)
    with pytest.raises(ValueError, match=r"overflows int64"):
        load(summary.assign(epoch=[0, 1, 2**62]), keymap=timm(updates_per_epoch=4))


# -- sparse logs ------------------------------------------------------------------------------

SPARSE = pd.DataFrame({"step": [49, 99, 149, 199], "lr-SGD": [0.1, 0.08, 0.06, 0.04]})  # log_every_n_steps=50


def test_a_sparse_log_says_what_happened_and_what_to_do():
    traj = load(SPARSE, keymap="lightning")
    assert traj.notes == (
        "hp/lr/g0: logged at 4 of the 200 updates 0..199 (every 50 steps from step 49), not at every "
        "update, so a replay fails at the first missing one. To replay the run exactly, log every "
        "update: Trainer(log_every_n_steps=1). To replay this log anyway, fill it: "
        "traj.schedules(gaps='previous', before_start='first') or load(..., gaps='previous', "
        "before_start='first'); the filled values are interpolated, not the ones the run used",
    )
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(
        ValueError,
        match=r"^DataFrame: series 'hp/lr/g0' \(a log that starts late: 4 values, every 50 steps from step 49; "
        r"log every update from step 0 \(a log written every 50 updates is a chart: with Lightning, "
        r"Trainer\(log_every_n_steps=1\)\), or fill it with schedules\(gaps='previous', before_start='first'\): "
        r"interpolated values, not the run's; see traj\.notes\): no value recorded before step 49, got step=0",
    ):
        ps.ParamScheduler(opt, traj.schedules(), total_steps=200)


def test_filling_at_replay_time():
    traj = load(SPARSE, keymap="lightning")
    lr = traj.schedules(gaps="previous", before_start="first")[("lr", "g0")]
    assert [lr(k, 200) for k in (0, 48, 49, 50, 98, 99, 199)] == [0.1, 0.1, 0.1, 0.1, 0.1, 0.08, 0.04]
    linear = traj.schedules(gaps="linear", before_start="first")[("lr", "g0")]
    assert linear(0, 200) == 0.1 and linear(99, 200) == 0.08 and 0.08 < linear(74, 200) < 0.1
    # before_start alone: the steps before the first one are held, a gap is still an error
    start_only = load(pd.DataFrame({"step": [2, 3, 5], "hp/lr/g0": [0.1, 0.2, 0.3]})).schedules(before_start="first")
    lr = start_only[("lr", "g0")]
    assert [lr(k, 6) for k in (0, 1, 2, 3, 5)] == [0.1, 0.1, 0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=r"step 4 is missing from the log"):
        lr(4, 6)
    with pytest.raises(ValueError, match=r"^before_start must be one of 'error', 'first', got before_start='zero'$"):
        traj.schedules(before_start="zero")


def test_filling_at_load_is_marked_as_interpolated():
    filled = load(SPARSE, keymap="lightning", gaps="previous", before_start="first")
    assert filled.frame.index.tolist() == list(range(200)) and filled.metadata is None
    assert filled.frame["hp/lr/g0"].iloc[[0, 49, 99, 199]].tolist() == [0.1, 0.1, 0.08, 0.04]
    assert filled.notes[-1] == (
        "hp/lr/g0: 196 of 200 values were filled at load (gaps='previous', before_start='first'): "
        "interpolated, not recorded; only the 4 logged steps hold the run's own values"
    )
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ps.ParamScheduler(opt, filled.schedules(), total_steps=200)  # every step has a value now
    gaps_only = load(SPARSE, keymap="lightning", gaps="linear")
    assert gaps_only.frame.index.tolist() == list(range(49, 200))
    with pytest.raises(ValueError, match=r"^gaps must be one of 'error', 'previous', 'linear', got gaps='hold'$"):
        load(SPARSE, keymap="lightning", gaps="hold")


# -- groups="broadcast" ----------------------------------------------------------------------------


def test_broadcast_replays_the_one_logged_group_to_every_group():
    traj = load(pd.DataFrame({"step": [1, 2, 3], "learning_rate": [0.0, 0.5, 0.25]}), keymap="hf")
    schedules = traj.schedules(groups="broadcast")
    assert list(schedules) == ["lr"]
    assert schedules["lr"].name == "DataFrame: series 'hp/lr/g0' (broadcast to every group)"
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW([{"params": [params[0]], "weight_decay": 0.1}, {"params": [params[1]], "weight_decay": 0.0}])
    sched = ps.ParamScheduler(opt, schedules, total_steps=3)
    seen = []
    for _ in range(3):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert seen == [[0.0, 0.0], [0.5, 0.5], [0.25, 0.25]]


def test_broadcast_needs_one_group_per_key():
    traj = load(pd.DataFrame({"step": [0], "hp/lr/g0": [0.1], "hp/lr/g1": [0.2], "hp/betas.0/g0": [0.9]}))
    with pytest.raises(
        ValueError,
        match=r"^DataFrame: groups='broadcast' replays the one logged group of a key to every group, but key "
        r"'lr' was logged for groups \['g0', 'g1'\]; use groups=None",
    ):
        traj.schedules(groups="broadcast")
    assert list(traj.schedules(keys="betas.0", groups="broadcast")) == ["betas.0"]
    with pytest.raises(ValueError, match=r"^groups must be None, a dict \{old_label: new_label\} or 'broadcast', got groups='all'$"):
        traj.schedules(groups="all")


# -- the API tracker sources use ---------------------------------------------------------------------


def test_table_columns_for_source_authors():
    # an HF run as an MLflow source sees it: one row per step, every metric at its global_step
    table = pd.DataFrame({"step": [1, 2], "learning_rate": [0.1, 0.2], "loss": [2.0, 1.0],
                          "train_runtime": [np.nan, 3.0]})
    frame, notes = table_columns(table, source="mlflow run", keymap="hf")
    assert frame.index.tolist() == [0, 1]
    assert notes[-1] == "column(s) ['loss'] are not series: not read"
    frame, notes, metrics = table_columns(table, source="mlflow run", keymap="auto", with_metrics=True)
    traj = Trajectory(frame, None, "mlflow run", notes=notes, metrics=metrics)
    assert traj.metrics["loss"].to_dict() == {0: 2.0, 1: 1.0}
    assert notes[0] == "keymap='auto' read this log as a Hugging Face Trainer log ('hf': found 'learning_rate')"
    # W&B names: the step column is picked from the key map's own list
    km, _ = choose_keymap("auto", ["_step", "train/global_step", "train/learning_rate"], source="w")
    assert km.step_columns == ("step", "train/global_step", "global_step")


def test_a_custom_keymap_owns_its_step_convention():
    class EveryTen(KeyMap):
        name = "every-ten"
        step_columns = ("iteration",)
        convention = "iteration i is update 10 * i"

        def map_columns(self, columns, *, source):
            return {"rate": "hp/lr/g0"}

        def to_updates(self, steps, *, column="iteration"):
            return steps * 10

    traj = load(pd.DataFrame({"iteration": [0, 1], "rate": [0.1, 0.2], "acc": [0.5, 0.6]}), keymap=EveryTen())
    assert traj.frame.index.tolist() == [0, 10] and traj.metrics.index.tolist() == [0, 10]
    assert traj.notes[0] == "iteration i is update 10 * i"


# -- numbers are read strictly ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1_0", "0x10", "１", "1e", "--1", "1.0.0", "True"])
def test_text_that_python_float_or_int_would_accept_is_not_a_number(text):
    with pytest.raises(ValueError, match=rf"^DataFrame: series 'hp/lr/g0' has a non-numeric value {text!r} at step 1$"):
        load(pd.DataFrame({"step": ["0", "1"], "hp/lr/g0": ["0.1", text]}))
    with pytest.raises(ValueError, match=rf"^DataFrame: column 'step' must hold integer steps, got {text!r} at row 1$"):
        load(pd.DataFrame({"step": ["0", text], "hp/lr/g0": [0.1, 0.2]}))


def test_numbers_in_every_decimal_form_read_exactly():
    texts = ["0.1", " 1e-3 ", "+2.5", "-0.0", ".5", "5.", "1E+2", "0.30000000000000004"]
    traj = load(pd.DataFrame({"step": [str(i) for i in range(len(texts))], "hp/x/g0": texts}))
    assert traj.frame["hp/x/g0"].tolist() == [float(t) for t in texts]


@pytest.mark.parametrize(
    "make_steps, message",
    [
        (lambda: pd.Series([0, 2**64 - 1], dtype=np.uint64), r"must hold steps < 2\*\*63 \(int64\), got 18446744073709551615"),
        (lambda: pd.Series([0, 10**20], dtype=object), r"must hold steps < 2\*\*63 \(int64\), got 100000000000000000000"),
        (lambda: pd.Series([0.0, 2.0**60]), r"must hold steps a float can hold exactly \(<= 2\*\*53\), got 1\.152921504606847e\+18"),
        (lambda: pd.Series(["0", "99999999999999999999"]), r"must hold steps < 2\*\*63 \(int64\), got '99999999999999999999'"),
    ],
)
def test_steps_beyond_int64_are_an_error_naming_the_row(make_steps, message):
    with pytest.raises(ValueError, match=rf"^DataFrame: column 'step' {message} at row 1$"):
        load(pd.DataFrame({"step": make_steps(), "hp/lr/g0": [0.1, 0.2]}))
