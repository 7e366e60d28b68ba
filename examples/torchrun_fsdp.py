"""FSDP2 (``fully_shard``) under torchrun, with a distributed checkpoint (DCP).

Shows: the ParamScheduler needs nothing special for sharded parameters (it
only writes the optimizer's param-group values), records on rank 0 only, and
is saved and loaded by ``torch.distributed.checkpoint`` next to the sharded
model and optimizer: it implements ``state_dict()``/``load_state_dict()``, so
DCP treats it as a ``Stateful`` object. Every rank writes its own shards; the
resume loads them back and continues the uninterrupted run exactly.

Run (gloo on CPU, loopback only; torch >= 2.6 for ``fully_shard``):

    torchrun --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29513 \\
        examples/torchrun_fsdp.py --steps 20 --save-at 10 --out runs/fsdp
    torchrun --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29513 \\
        examples/torchrun_fsdp.py --steps 20 --resume runs/fsdp/ckpt --out runs/fsdp-resumed

Without torchrun it runs as one process (world size 1). Each rank writes the
values it applied at every update to ``<out>/rank<r>.jsonl``; rank 0 writes
the paramsched CSV run to ``<out>/values`` and the full (unsharded) final
weights to ``<out>/final.pt``.
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
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

import paramsched as ps

SCHEDULES = {
    "lr": ps.WarmupStableDecay(0.05, warmup=0.2, decay=0.3),
    "weight_decay": ps.Cosine(0.05, 0.0),
    "betas.0": ps.Linear(0.85, 0.95),
}


def _init_process_group() -> None:
    if "RANK" not in os.environ:  # plain `python examples/torchrun_fsdp.py`: a world of one
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer updates in the run")
    parser.add_argument("--out", type=Path, default=Path("runs/fsdp"))
    parser.add_argument("--save-at", type=int, default=None, help="save a DCP checkpoint to <out>/ckpt after this many updates")
    parser.add_argument("--resume", type=Path, default=None, help="a checkpoint directory written with --save-at")
    args = parser.parse_args()

    _init_process_group()
    train(args)
    _destroy_process_group()


def train(args: argparse.Namespace) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)  # the same initial weights on every rank, before sharding
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    mesh = init_device_mesh("cpu", (world,))
    fully_shard(net[0], mesh=mesh)
    fully_shard(net[2], mesh=mesh)
    fully_shard(net, mesh=mesh)  # each rank now holds a shard of every parameter (DTensors)
    opt = torch.optim.AdamW(
        [{"params": net[0].parameters(), "name": "body"}, {"params": net[2].parameters(), "name": "head"}]
    )
    sched = ps.ParamScheduler(opt, SCHEDULES, args.steps, attach=True, recorders=[f"csv:{args.out / 'values'}"])

    if args.resume is not None:  # every rank reads its own shards
        model_state, optim_state = get_state_dict(net, opt)
        state = {"model": model_state, "optim": optim_state, "sched": sched}
        dcp.load(state, checkpoint_id=args.resume)  # calls sched.load_state_dict(...)
        set_state_dict(net, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
    resumed_at = sched.current_step

    log = open(args.out / f"rank{rank}.jsonl", "w", encoding="utf-8")
    for k in range(sched.current_step, args.steps):
        gen = torch.Generator().manual_seed(1000 * k + rank)  # each rank its own shard of data
        x = torch.randn(16, 8, generator=gen)
        y = x.sum(1, keepdim=True)
        applied = {g["name"]: [g["lr"], g["weight_decay"], g["betas"][0]] for g in opt.param_groups}
        log.write(json.dumps({"step": k, "values": sched.current_series(), "applied": applied}) + "\n")
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()  # the scheduler advances from the optimizer's post-hook
        if args.save_at is not None and sched.current_step == args.save_at:
            model_state, optim_state = get_state_dict(net, opt)
            dcp.save({"model": model_state, "optim": optim_state, "sched": sched}, checkpoint_id=args.out / "ckpt")
    log.close()
    sched.close()
    full = get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:  # a collective above: every rank takes part, rank 0 receives the full weights
        torch.save(full, args.out / "final.pt")
        print(f"world_size={world}: {args.steps - resumed_at} updates, values in {args.out / 'values'}")
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
