"""Worker for tests/test_distributed.py: Accelerate on 2 CPU processes (launched by torchrun).

Trains with gradient accumulation, passing both a ParamScheduler adapter and a
plain torch LambdaLR through ``accelerator.prepare``; writes per-rank counts
to ``<out>/rank<r>.json``.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

import paramsched as ps


def main() -> None:
    out = Path(sys.argv[1])
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    torch.manual_seed(0)
    model, other = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    other_opt = torch.optim.SGD(other.parameters(), lr=0.1)
    updates = []
    opt.register_step_pre_hook(lambda o, a, k: updates.append(o.param_groups[0]["lr"]))
    sched = ps.ParamScheduler(opt, {"lr": ps.Linear(0.1, 0.02)}, total_steps=4)
    plain = torch.optim.lr_scheduler.LambdaLR(other_opt, lambda k: 1.0)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(32, 3)), batch_size=2)
    model, other, opt, other_opt, data, lr_sched, plain = accelerator.prepare(
        model, other, opt, other_opt, data, sched.as_lr_scheduler(), plain
    )
    batches = 0
    for (x,) in data:
        batches += 1
        with accelerator.accumulate(model, other):
            accelerator.backward(model(x).pow(2).mean() + other(x).pow(2).mean())
            opt.step()
            other_opt.step()
            lr_sched.step()
            plain.step()
            opt.zero_grad()
            other_opt.zero_grad()
    result = {
        "num_processes": accelerator.num_processes,
        "batches": batches,
        "updates": len(updates),
        "applied_lr": updates,
        "expected_lr": [sched.values_at(k)["hp/lr/g0"] for k in range(len(updates))],
        "paramsched_step": sched.current_step,
        "lambda_lr_last_epoch": plain.scheduler.last_epoch,
    }
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(result))
    # The prepared (DDP) models hold the gloo process group: free them before
    # end_training() destroys it, or a gloo worker thread still releasing the last
    # collective during interpreter exit can abort the process (see torchrun_ddp.py).
    accelerator.wait_for_everyone()
    del model, other, opt, other_opt, data, lr_sched, plain
    accelerator.free_memory()
    gc.collect()
    accelerator.end_training()


if __name__ == "__main__":
    main()
