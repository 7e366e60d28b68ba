"""Hugging Face Trainer + MLflow: schedule lr, weight decay and betas per group of a tiny GPT-2.

Shows: ``create_optimizer_and_scheduler`` for ``Trainer(optimizers=...)`` (the
Trainer's own ``lr_scheduler.step()`` drives the ParamScheduler once per
optimizer update, here with gradient accumulation), weight decay scheduled on
weights only (``decay_param_groups`` + an override for biases and LayerNorms),
``ParamSchedulerCallback`` (checks the wiring, flushes at each checkpoint),
``report_to="mlflow"`` into an embedded sqlite store, the paramsched record
(CSV, plus MLflow when ``paramsched-mlflow`` is installed) and a check that the
Trainer's own ``learning_rate`` metric is the lr paramsched applied.

Run (no server, no downloads: the model is built from a config):

    python examples/hf_trainer_mlflow.py --steps 40 --out runs/hf
    mlflow ui --backend-store-uri sqlite:///runs/hf/mlflow.db    # to browse

Writes ``<out>/mlflow.db`` (MLflow store), ``<out>/values`` (CSV run) and
``<out>/trainer/checkpoint-*``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

import paramsched as ps  # noqa: E402
from paramsched_transformers import (  # noqa: E402
    ParamSchedulerCallback,
    create_optimizer_and_scheduler,
    decay_param_groups,
)


class RandomTokens(torch.utils.data.Dataset):
    def __init__(self, n: int, length: int, vocab: int) -> None:
        self.ids = torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer updates (max_steps)")
    parser.add_argument("--out", type=Path, default=Path("runs/hf"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{(args.out / 'mlflow.db').resolve()}"
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # read by the Trainer's MLflowCallback
    os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "paramsched-examples")

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config)

    recorders: list = [ps.recording.CsvRecorder(args.out / "values", overwrite=True)]
    try:  # pip install paramsched-mlflow: the values also go to the Trainer's MLflow run
        from paramsched_mlflow import MlflowRecorder
    except ImportError:
        MlflowRecorder = None
    if MlflowRecorder is not None:
        recorders.append(MlflowRecorder())  # logs into the active run: the one the Trainer started

    optimizer, lr_scheduler = create_optimizer_and_scheduler(
        model,
        {
            "lr": ps.WarmupStableDecay(3e-3, warmup=0.1, decay=0.3),
            "weight_decay": ps.Cosine(0.1, 0.0),
            "betas.1": ps.Linear(0.95, 0.99),
        },
        total_steps=args.steps,
        param_groups=decay_param_groups(model),
        overrides={"no_decay": {"weight_decay": ps.Constant(0.0)}},
        recorders=recorders,
    )
    training_args = TrainingArguments(
        output_dir=str(args.out / "trainer"),
        max_steps=args.steps,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        logging_steps=1,
        save_steps=max(1, args.steps // 2),
        report_to=["mlflow"],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=RandomTokens(64, 16, config.vocab_size),
        optimizers=(optimizer, lr_scheduler),
        callbacks=[ParamSchedulerCallback()],
    )
    trainer.train()

    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"])
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    hf_lr = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "learning_rate")}
    recorded = ps.replay.load(args.out / "values").frame
    # The Trainer logs, at global step s, the lr of the update that just finished (s - 1).
    assert sorted(hf_lr) == list(range(1, args.steps + 1)), sorted(hf_lr)
    assert all(hf_lr[s] == recorded.loc[s - 1, "hp/lr/decay"] for s in hf_lr)
    print(f"MLflow run {run.info.run_id}: the Trainer's learning_rate == paramsched's hp/lr/decay at "
          f"all {len(hf_lr)} steps; {recorded.shape[1]} series recorded in {args.out / 'values'}")
    if MlflowRecorder is not None:
        # The same run holds the Trainer's metrics and every paramsched value.
        differences = ps.replay.diff(ps.replay.load(f"mlflow://{run.info.run_id}"), ps.replay.load(args.out / "values"))
        assert (differences["status"] == "equal").all(), differences
        print("MLflow record == CSV record, bit for bit, in the Trainer's MLflow run")


if __name__ == "__main__":
    main()
