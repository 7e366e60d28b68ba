"""A tiny deterministic LightningModule and helpers shared by the Lightning tests."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from paramsched.recording.base import Recorder

SAMPLES = 8
BATCH = 2  # 4 batches per epoch


def make_data() -> DataLoader:
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(SAMPLES, 4, generator=gen)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(SAMPLES, 1, generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=False)


class TinyModule(pl.LightningModule):
    """Two named param groups ("body", "head"); remembers each update's hyperparameters."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)
        self.applied: list[dict[str, Any]] = []  # group values seen by each real optimizer update

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.body(x)))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        opt = torch.optim.AdamW(
            [{"params": self.body.parameters(), "name": "body"}, {"params": self.head.parameters(), "name": "head"}],
            lr=1e-3,
        )
        opt.register_step_pre_hook(self._seen)
        return opt

    def _seen(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.applied.append(
            {g["name"]: (g["lr"], g["weight_decay"], g["betas"][0]) for g in optimizer.param_groups}
        )


class ListRecorder(Recorder):
    """Keeps every recorded row in memory."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.metadata: dict[str, Any] | None = None
        self.closed = False

    def start(self, metadata: Mapping[str, Any]) -> None:
        self.metadata = dict(metadata)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        self.rows.append((step, dict(values)))

    def close(self) -> None:
        self.closed = True


def trainer(tmp_path: Path, callbacks: list, **kwargs: Any) -> pl.Trainer:
    options: dict[str, Any] = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        default_root_dir=str(tmp_path),
    )
    options.update(kwargs)
    return pl.Trainer(callbacks=callbacks, **options)


def read_metrics(path: Path, prefix: str = "hp/") -> dict[int, dict[str, float]]:
    """Rows of a CSVLogger metrics.csv that carry series starting with ``prefix``: step -> values."""
    out: dict[int, dict[str, float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            values = {k: float(v) for k, v in row.items() if k.startswith(prefix) and v != ""}
            if values:
                out.setdefault(int(row["step"]), {}).update(values)
    return out


@pytest.fixture(autouse=True)
def _quiet_lightning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
        yield


# -- the trackers behind Lightning's loggers, on this machine only ----------------------------

_WANDB_ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_X_DISABLE_STATS": "true",
    "WANDB_X_DISABLE_MACHINE_INFO": "true",
    "WANDB_X_SAVE_REQUIREMENTS": "false",
    "WANDB_DISABLE_JOB_CREATION": "true",
}
_WANDB_UNSET = ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_BASE_URL")


@pytest.fixture(scope="module")
def offline_wandb(tmp_path_factory: pytest.TempPathFactory):
    """wandb in offline mode writing under a temp directory (nothing reaches the network)."""
    wandb = pytest.importorskip("wandb")
    root = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as mp:
        wandb.teardown()  # wandb caches its settings per process
        for key, value in _WANDB_ENV.items():
            mp.setenv(key, value)
        for key in _WANDB_UNSET:
            mp.delenv(key, raising=False)
        for key, sub in (("WANDB_DIR", "runs"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")):
            (root / sub).mkdir()
            mp.setenv(key, str(root / sub))
        yield root / "runs"
        if wandb.run is not None:
            wandb.run.finish()
        wandb.teardown()
