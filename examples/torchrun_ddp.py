"""DistributedDataParallel under torchrun: every rank applies the same values, rank 0 records.

Shows: a ParamScheduler on each rank (``attach=True``: it follows the optimizer),
recording to CSV on rank 0 only (the default ``record_ranks="zero"``), a
checkpoint written by rank 0 and loaded by every rank, and an exact resume.

Run (gloo on CPU, loopback only):

    torchrun --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29512 \\
        examples/torchrun_ddp.py --steps 20 --save-at 10 --out runs/ddp
    torchrun --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29512 \\
        examples/torchrun_ddp.py --steps 20 --resume runs/ddp/ckpt.pt --out runs/ddp-resumed

Without torchrun it runs as one process (world size 1). Each rank writes the
values it applied at every update to ``<out>/rank<r>.jsonl``; rank 0 writes
the paramsched CSV run to ``<out>/values`` and the final weights to
``<out>/final.pt``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import paramsched as ps

SCHEDULES = {
    "lr": ps.WarmupStableDecay(0.05, warmup=0.2, decay=0.3),
    "weight_decay": ps.Cosine(0.05, 0.0),
    "betas.0": ps.Linear(0.85, 0.95),
}


def _init_process_group() -> None:
    if "RANK" not in os.environ:  # plain `python examples/torchrun_ddp.py`: a world of one
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer updates in the run")
    parser.add_argument("--out", type=Path, default=Path("runs/ddp"))
    parser.add_argument("--save-at", type=int, default=None, help="rank 0 saves <out>/ckpt.pt after this many updates")
    parser.add_argument("--resume", type=Path, default=None, help="a checkpoint written with --save-at")
    args = parser.parse_args()

    _init_process_group()
    train(args)
    _destroy_process_group()


def train(args: argparse.Namespace) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)  # the same initial weights on every rank
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    model = DistributedDataParallel(net)
    opt = torch.optim.AdamW(
        [{"params": net[0].parameters(), "name": "body"}, {"params": net[2].parameters(), "name": "head"}]
    )
    sched = ps.ParamScheduler(opt, SCHEDULES, args.steps, attach=True, recorders=[f"csv:{args.out / 'values'}"])

    if args.resume is not None:  # every rank loads what rank 0 saved
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=True)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])

    log = open(args.out / f"rank{rank}.jsonl", "w", encoding="utf-8")
    for k in range(sched.current_step, args.steps):
        gen = torch.Generator().manual_seed(1000 * k + rank)  # each rank its own shard of data
        x = torch.randn(16, 8, generator=gen)
        y = x.sum(1, keepdim=True)
        applied = {g["name"]: [g["lr"], g["weight_decay"], g["betas"][0]] for g in opt.param_groups}
        log.write(json.dumps({"step": k, "values": sched.current_series(), "applied": applied}) + "\n")
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()  # the scheduler advances from the optimizer's post-hook
        if args.save_at is not None and sched.current_step == args.save_at:
            if rank == 0:
                torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()},
                           args.out / "ckpt.pt")
            dist.barrier()
    log.close()
    sched.close()
    if rank == 0:
        torch.save(net.state_dict(), args.out / "final.pt")
        print(f"world_size={world}: {args.steps - (0 if args.resume is None else ckpt['sched']['step'])} "
              f"updates, values in {args.out / 'values'}")
    dist.barrier()


def _destroy_process_group() -> None:
    # The model (DDP's reducer, FSDP's mesh) holds the gloo process group; while it
    # lives, destroy_process_group() does not stop gloo's worker threads, and one still
    # releasing a finished collective during interpreter exit aborts the process
    # ("terminate called without an active exception"; 1 run in 25 on a loaded
    # machine). train() has returned: collect what it left, then destroy.
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
