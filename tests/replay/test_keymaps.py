"""Key maps: Lightning LearningRateMonitor and Hugging Face Trainer logs imported and replayed."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from paramsched.replay import KEYMAPS, load
from paramsched.replay.keymaps import (
    DictKeyMap,
    HFKeyMap,
    LightningKeyMap,
    lightning,
    resolve_keymap,
)

# What Lightning 2.6's CSVLogger writes with LearningRateMonitor(log_momentum=True,
# log_weight_decay=True) for AdamW with groups [unnamed, {"name": "head"}]: lr rows and
# loss rows alternate, each with holes in the other columns.
LIGHTNING_CSV = """epoch,lr-AdamW/head,lr-AdamW/head-momentum,lr-AdamW/head-weight_decay,lr-AdamW/pg1,lr-AdamW/pg1-momentum,lr-AdamW/pg1-weight_decay,step,train_loss
,0.5,0.9,0.01,0.1,0.9,0.01,0,
0,,,,,,,0,0.18192218244075775
,0.25,0.9,0.01,0.05,0.9,0.01,1,
0,,,,,,,1,0.9656883478164673
,0.16666666666666666,0.9,0.01,0.03333333333333333,0.9,0.01,2,
0,,,,,,,2,0.3502771854400635
,0.125,0.9,0.01,0.025,0.9,0.01,3,
0,,,,,,,3,1.8588660955429077
"""


@pytest.mark.parametrize(
    "column, expected",
    [
        ("lr-AdamW", "hp/lr/g0"),
        ("lr-AdamW/pg1", "hp/lr/g0"),
        ("lr-AdamW/pg2", "hp/lr/g1"),
        ("lr-AdamW/pg12", "hp/lr/g11"),
        ("lr-AdamW/head", "hp/lr/head"),
        ("lr-AdamW/enc:layer#1", "hp/lr/enc_layer_1"),  # sanitized like paramsched group labels
        ("lr-AdamW-momentum", "hp/betas.0/g0"),
        ("lr-AdamW/pg2-momentum", "hp/betas.0/g1"),
        ("lr-AdamW-weight_decay", "hp/weight_decay/g0"),
        ("lr-AdamW/head-weight_decay", "hp/weight_decay/head"),
    ],
)
def test_lightning_names_adamw(column, expected):
    assert LightningKeyMap().map_columns([column, "step", "train_loss", "epoch"], source="log") == {column: expected}


def test_lightning_sgd_momentum_and_second_optimizer():
    km = LightningKeyMap()
    assert km.map_columns(["lr-SGD", "lr-SGD-momentum"], source="s") == {
        "lr-SGD": "hp/lr/g0",
        "lr-SGD-momentum": "hp/momentum/g0",
    }
    # A second optimizer of the same type is "lr-Adam-1"; pick one by name.
    cols = ["lr-Adam", "lr-Adam-1/pg1", "lr-Adam-1/pg2", "lr-Adam-1-momentum"]
    with pytest.raises(
        ValueError,
        match=r"^s: the log holds several optimizers \['lr-Adam', 'lr-Adam-1'\]; a ParamScheduler drives one: "
        r"pick it with keymap=paramsched\.replay\.keymaps\.lightning\(name=\.\.\.\)$",
    ):
        km.map_columns(cols, source="s")
    assert lightning("lr-Adam-1").map_columns(cols, source="s") == {
        "lr-Adam-1/pg1": "hp/lr/g0",
        "lr-Adam-1/pg2": "hp/lr/g1",
        "lr-Adam-1-momentum": "hp/betas.0/g0",
    }
    assert lightning("lr-Adam").map_columns(cols + ["lr-AdamW"], source="s") == {"lr-Adam": "hp/lr/g0"}


def test_lightning_custom_name_and_unknown_optimizer_momentum():
    cols = ["my_sched/pg1", "my_sched/pg2", "my_sched/pg1-momentum"]
    with pytest.raises(ValueError, match=r"s: keymap 'lightning' found no LearningRateMonitor column"):
        LightningKeyMap().map_columns(cols, source="s")
    with pytest.raises(
        ValueError,
        match=r"s: cannot tell which key column 'my_sched/pg1-momentum' holds .*keymaps\.lightning\('my_sched', momentum_key='momentum' or 'betas\.0'\)$",
    ):
        lightning("my_sched").map_columns(cols, source="s")
    assert lightning("my_sched", momentum_key="momentum").map_columns(cols, source="s") == {
        "my_sched/pg1": "hp/lr/g0",
        "my_sched/pg2": "hp/lr/g1",
        "my_sched/pg1-momentum": "hp/momentum/g0",
    }
    with pytest.raises(ValueError, match=r"cannot tell which key column 'lr-Lion-momentum' holds"):
        LightningKeyMap().map_columns(["lr-Lion", "lr-Lion-momentum"], source="s")


def test_lightning_metrics_csv_through_the_csv_source(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(LIGHTNING_CSV)
    traj = load(path, keymap="lightning")
    assert traj.metadata is None
    assert sorted(traj.series) == sorted(
        ["hp/lr/head", "hp/betas.0/head", "hp/weight_decay/head", "hp/lr/g0", "hp/betas.0/g0", "hp/weight_decay/g0"]
    )
    assert traj.frame.index.tolist() == [0, 1, 2, 3]
    assert traj.frame["hp/lr/g0"].tolist() == [0.1, 0.05, 0.03333333333333333, 0.025]
    assert traj.frame["hp/lr/head"].tolist() == [0.5, 0.25, 0.16666666666666666, 0.125]
    sched = traj.schedules(keys="lr")
    assert [sched[("lr", "head")](k, 4) for k in range(4)] == [0.5, 0.25, 0.16666666666666666, 0.125]
    # The other columns are metrics, on the same steps.
    assert traj.metrics["train_loss"].tolist() == [0.18192218244075775, 0.9656883478164673, 0.3502771854400635, 1.8588660955429077]
    assert traj.metrics.index.tolist() == [0, 1, 2, 3] and traj.metrics["epoch"].tolist() == [0.0] * 4
    assert traj.notes == ()  # rows sharing a step are merged: no value was chosen over another
    # Without a key map the foreign columns are an error that says what to do.
    with pytest.raises(ValueError, match=r"metrics\.csv: no series columns 'hp/<key>/<group>'; columns: \['epoch', .*; for a log that paramsched did not write pass keymap='lightning'"):
        load(path)
    assert load(path, keymap="auto").notes == ("keymap='auto' read this log as a Lightning LearningRateMonitor log ('lightning': found 'lr-AdamW')",)


def test_lightning_log_written_every_n_steps_has_gaps(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("lr-SGD,step,train_loss\n0.1,0,\n,0,1.0\n0.08,50,\n0.06,100,\n")
    traj = load(path, keymap="lightning")
    strict = traj.schedules()[("lr", "g0")]
    with pytest.raises(ValueError, match=r"metrics\.csv: series 'hp/lr/g0': step 1 is missing from the log \(recorded steps around it: 0 and 50\)"):
        strict(1, 101)
    held = traj.schedules(gaps="previous")[("lr", "g0")]
    assert [held(k, 101) for k in (0, 49, 50, 99, 100)] == [0.1, 0.1, 0.08, 0.08, 0.06]


def test_lightning_non_numeric_value_names_column_series_and_step(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("lr-SGD,step\n0.1,0\noops,1\n")
    with pytest.raises(
        ValueError,
        match=r"metrics\.csv: column 'lr-SGD' \(series 'hp/lr/g0'\) has a non-numeric value 'oops' at step 1$",
    ):
        load(path, keymap="lightning")


def test_hf_style_log_history():
    # trainer_state.json["log_history"]: training entries carry learning_rate, eval entries do not.
    log_history = [
        {"loss": 2.0, "learning_rate": 5e-05, "epoch": 0.1, "step": 10},
        {"loss": 1.5, "learning_rate": 4.5e-05, "epoch": 0.2, "step": 20},
        {"eval_loss": 1.7, "epoch": 0.2, "step": 20},
        {"loss": 1.2, "learning_rate": 4.000000000000001e-05, "epoch": 0.3, "step": 30},
    ]
    state = json.loads(json.dumps({"log_history": log_history}))
    traj = load(pd.DataFrame(state["log_history"]), keymap="hf")
    assert traj.series == ["hp/lr/g0"]
    # The Trainer logs update k's lr at global_step k + 1: logged step 10 is update 9.
    steps, values = traj.values("hp/lr/g0")
    assert steps.tolist() == [9, 19, 29] and values.tolist() == [5e-05, 4.5e-05, 4.000000000000001e-05]
    assert traj.metrics.fillna(-1.0).to_dict("index") == {  # -1.0: not logged at that step
        9: {"loss": 2.0, "epoch": 0.1, "eval_loss": -1.0},
        19: {"loss": 1.5, "epoch": 0.2, "eval_loss": 1.7},
        29: {"loss": 1.2, "epoch": 0.3, "eval_loss": -1.0},
    }
    assert traj.notes[0].startswith("Hugging Face Trainer log: the lr of update k is logged at global_step k + 1")
    assert "every 10 steps from step 9" in traj.notes[1] and "TrainingArguments(logging_steps=1)" in traj.notes[1]
    sched = traj.schedules(gaps="previous", after_end="hold")[("lr", "g0")]
    assert sched(25, 30) == 4.5e-05 and sched(29, 30) == 4.000000000000001e-05
    with pytest.raises(ValueError, match=r"a log that starts late: 3 values, every 10 steps from step 9; .*no value recorded before step 9, got step=0"):
        sched(0, 30)


def test_hf_wandb_names():
    df = pd.DataFrame({"train/global_step": [1, 2], "train/learning_rate": [1e-4, 9e-5], "train/loss": [3.0, 2.9]})
    traj = load(df, keymap="hf")
    assert traj.frame["hp/lr/g0"].to_dict() == {0: 1e-4, 1: 9e-5}
    assert traj.metrics["loss"].to_dict() == {0: 3.0, 1: 2.9}  # W&B's train/loss is log_history's loss
    both = df.assign(learning_rate=[1e-4, 9e-5])
    with pytest.raises(
        ValueError,
        match=r"columns 'train/learning_rate' and 'learning_rate' both map to series 'hp/lr/g0'; pass a keymap dict that picks one",
    ):
        load(both, keymap="hf")
    with pytest.raises(ValueError, match=r"DataFrame: keymap 'hf' found none of the columns \['learning_rate', 'train/learning_rate'\]"):
        load(pd.DataFrame({"step": [0], "lr": [0.1]}), keymap="hf")
    with pytest.raises(ValueError, match=r"DataFrame: no step column; expected one of \['step', 'train/global_step', 'global_step'\]"):
        load(pd.DataFrame({"_step": [0], "learning_rate": [0.1]}), keymap="hf")


def test_custom_dict_keymap():
    df = pd.DataFrame({"it": [0, 1], "my_lr": [0.1, 0.2], "my_mom": [0.9, 0.8], "loss": [1, 2]})
    traj = load(df, keymap={"my_lr": ("lr", 0), "my_mom": "hp/momentum/head"}, step_column="it")
    assert traj.series == ["hp/lr/g0", "hp/momentum/head"]
    assert traj.frame["hp/momentum/head"].tolist() == [0.9, 0.8]
    with pytest.raises(ValueError, match=r"DataFrame: keymap column\(s\) \['nope'\] not in the log"):
        load(df, keymap={"nope": ("lr", "g0")}, step_column="it")
    with pytest.raises(TypeError, match=r"keymap\['my_lr'\] must be a \(key, group\) pair or a series name"):
        DictKeyMap({"my_lr": 3})
    with pytest.raises(ValueError, match=r"a scheduled key may contain only"):
        DictKeyMap({"my_lr": ("l/r", "g0")})


def test_resolve_keymap():
    assert isinstance(resolve_keymap("lightning"), LightningKeyMap)
    assert isinstance(resolve_keymap("hf"), HFKeyMap)
    assert resolve_keymap(None) is None
    assert set(KEYMAPS) == {"auto", "hf", "lightning", "paramsched", "timm"}
    with pytest.raises(ValueError, match=r"keymap must be one of 'auto', 'hf', 'lightning', 'paramsched', 'timm', a dict or a KeyMap, got keymap='tb'"):
        resolve_keymap("tb")
    with pytest.raises(TypeError, match=r"keymap must be a preset name \(auto, hf, lightning, paramsched, timm\), a dict"):
        resolve_keymap(3)


def _lightning_fit(tmp_path, max_steps: int, **trainer_options):
    """A real Lightning fit (AdamW, groups [unnamed, "head"], a per-update LambdaLR) with
    LearningRateMonitor + CSVLogger; the model's ``used`` holds what each update applied."""
    torch = pytest.importorskip("torch")
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Linear(2, 1)
            self.head = torch.nn.Linear(2, 1)
            self.used = []

        def training_step(self, batch, index):
            (x,) = batch
            loss = (self.body(x) + self.head(x)).pow(2).mean()
            self.log("train_loss", loss)
            return loss

        def on_before_optimizer_step(self, optimizer):
            self.used.append({"g0": optimizer.param_groups[0]["lr"], "head": optimizer.param_groups[1]["lr"],
                              "b0": optimizer.param_groups[0]["betas"][0]})

        def configure_optimizers(self):
            opt = torch.optim.AdamW(
                [{"params": self.body.parameters()}, {"params": self.head.parameters(), "name": "head", "lr": 0.5}],
                lr=0.1,
            )
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (k + 1))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    torch.manual_seed(0)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 2)), batch_size=4)
    model = Model()
    logger = CSVLogger(str(tmp_path), name="run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            max_steps=max_steps, logger=logger, accelerator="cpu", enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
            callbacks=[LearningRateMonitor(logging_interval="step", log_momentum=True)], **trainer_options,
        )
        trainer.fit(model, data)
    return model, f"{logger.log_dir}/metrics.csv"


@pytest.mark.slow
def test_real_lightning_run_imported_and_replayed(tmp_path):
    """A real Lightning fit with LearningRateMonitor + CSVLogger; replay gives the lrs the optimizer used."""
    import torch

    import paramsched as ps

    model, path = _lightning_fit(tmp_path, 9, log_every_n_steps=1)
    traj = load(path, keymap="lightning")
    assert set(traj.series) == {"hp/lr/g0", "hp/lr/head", "hp/betas.0/g0", "hp/betas.0/head"}
    assert [traj.frame.loc[k, "hp/lr/g0"] for k in range(9)] == [u["g0"] for u in model.used]
    assert [traj.frame.loc[k, "hp/lr/head"] for k in range(9)] == [u["head"] for u in model.used]
    assert traj.frame["hp/betas.0/g0"].tolist() == [u["b0"] for u in model.used]

    # Replay the imported lrs on a fresh optimizer with the same groups: the same values, step by step.
    body, head = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW([{"params": body.parameters()}, {"params": head.parameters(), "name": "head"}], lr=1.0)
    sched = ps.ParamScheduler(opt, traj.schedules(keys="lr"), total_steps=9)
    seen = []
    for _ in range(9):
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        opt.step()
        sched.step()
    assert seen == [(u["g0"], u["head"]) for u in model.used]


@pytest.mark.slow
def test_real_lightning_run_with_the_default_log_every_n_steps_fails_with_a_hint(tmp_path):
    """Lightning's default log_every_n_steps=50: one row in 50. The log loads, says so and what to
    do; a replay fails naming the first missing step; a fill is marked as interpolated."""
    import torch

    import paramsched as ps

    model, path = _lightning_fit(tmp_path, 120)  # the default log_every_n_steps=50
    traj = load(path, keymap="lightning")
    logged = traj.frame["hp/lr/g0"].dropna()
    assert logged.index.tolist() == [49, 99]
    assert logged.tolist() == [model.used[49]["g0"], model.used[99]["g0"]]  # the logged ones are exact
    (note,) = traj.notes  # one note for the four series, which share their steps
    assert note.startswith("hp/lr/head and 3 more: logged at 2 of the 100 updates 0..99 (every 50 steps from step 49)")
    assert "log every update: Trainer(log_every_n_steps=1)" in note and "interpolated" in note
    opt = torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(1))]},
                             {"params": [torch.nn.Parameter(torch.zeros(1))], "name": "head"}], lr=1.0)
    with pytest.raises(ValueError, match=r"a log that starts late: 2 values, every 50 steps from step 49; .*"
                                         r"no value recorded before step 49, got step=0"):
        ps.ParamScheduler(opt, traj.schedules(keys="lr"), total_steps=120)
    filled = load(path, keymap="lightning", gaps="previous", before_start="first")
    assert any("98 of 100 values were filled at load" in n and "interpolated, not recorded" in n for n in filled.notes)
    assert filled.metadata is None
