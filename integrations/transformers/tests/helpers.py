"""A tiny model and dataset for Trainer tests (no hub downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

SAMPLES = 16


class TinyRegressor(torch.nn.Module):
    """A two-layer net with a LayerNorm that returns ``{"loss", "logits"}`` like a HF model."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.head(self.norm(torch.tanh(self.body(x))))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.mse_loss(logits, labels)
        return out


class TinyDataset(torch.utils.data.Dataset):
    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(1234)
        self.x = torch.randn(SAMPLES, 4, generator=gen)
        self.y = self.x.sum(1, keepdim=True) + 0.1 * torch.randn(SAMPLES, 1, generator=gen)

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def training_args(out: Path, **kwargs: Any) -> TrainingArguments:
    options: dict[str, Any] = dict(
        output_dir=str(out),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=12,
        logging_steps=1,
        save_strategy="steps",
        save_steps=4,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
        max_grad_norm=0.0,
    )
    options.update(kwargs)
    return TrainingArguments(**options)


def make_trainer(out: Path, optimizers: tuple, callbacks: list, model: torch.nn.Module | None = None, **kwargs: Any) -> Trainer:
    return Trainer(
        model=model or TinyRegressor(),
        args=training_args(out, **kwargs),
        train_dataset=TinyDataset(),
        optimizers=optimizers,
        callbacks=callbacks,
    )
