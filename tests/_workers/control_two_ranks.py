"""Two gloo ranks and one control file: both switch at the same update (issue 10).

    torchrun --nproc_per_node=2 control_two_ranks.py OUT

The scheduler is built BEFORE init_process_group (the rank is read when
recording starts, so rank 0 alone still records). Rank 0 writes the control
file after update 6; with control_every=5 both ranks apply it at step 10.
Each rank writes the lr it applied at every update to OUT/rank<r>.json.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import paramsched as ps
from paramsched.control import write_request


def main() -> None:
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, 20, recorders=[f"csv:{out / 'run'}"],
                              control=out / "control.json", control_every=5)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    applied = []
    for k in range(20):
        applied.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        if rank == 0 and k == 6:
            write_request(out / "control.json", set_values={"lr": 0.01}, reason="both ranks")
    sched.close()
    (out / f"rank{rank}.json").write_text(json.dumps(applied))
    dist.barrier()
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
