"""torch.distributed with 2 gloo processes on 127.0.0.1, launched by torchrun.

- examples/torchrun_ddp.py: both ranks apply the same values at every step,
  rank 0 alone records (one CSV row per step), and a resume from rank 0's
  checkpoint, loaded by every rank, continues the uninterrupted run exactly;
- examples/torchrun_fsdp.py: the same with FSDP2 (sharded parameters) and a
  torch.distributed.checkpoint (DCP) checkpoint holding the scheduler;
- Accelerate on 2 processes steps an LRScheduler twice per update; the
  ParamScheduler adapter still advances once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import paramsched as ps

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 150  # seconds per launch; a hung rendezvous fails the test instead of the suite

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(script: Path, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), *args,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _has_fully_shard() -> bool:
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
    except ImportError:
        return False
    return True


def _ranks(out: Path) -> list[list[dict]]:
    return [[json.loads(line) for line in (out / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]


def _check_two_ranks_and_exact_resume(example: Path, checkpoint: str, tmp_path: Path) -> None:
    """Run ``example`` for 8 updates saving at 4, resume from ``checkpoint``, compare."""
    first, resumed = tmp_path / "first", tmp_path / "resumed"
    _torchrun(example, "--steps", "8", "--save-at", "4", "--out", str(first))

    rank0, rank1 = _ranks(first)
    assert [r["step"] for r in rank0] == list(range(8))
    assert rank0 == rank1  # the same values, in the same groups, at every step
    for row in rank0:
        assert row["applied"]["body"][0] == row["values"]["hp/lr/body"]

    # one record per step, from rank 0 only (rank 1 would have appended to the same file)
    lines = (first / "values" / "values.csv").read_text().splitlines()
    assert [int(line.split(",", 1)[0]) for line in lines[1:]] == list(range(8))
    meta = json.loads((first / "values" / "run.json").read_text())
    assert (meta["rank"], meta["world_size"]) == (0, 2)
    recorded = ps.replay.load(first / "values").frame
    for row in rank0:
        assert recorded.loc[row["step"]].to_dict() == row["values"]

    _torchrun(example, "--steps", "8", "--resume", str(first / checkpoint), "--out", str(resumed))
    again0, again1 = _ranks(resumed)
    assert again0 == again1 == rank0[4:]
    assert ps.replay.load(resumed / "values").frame.equals(recorded.loc[4:])
    final, final_resumed = torch.load(first / "final.pt"), torch.load(resumed / "final.pt")
    assert final.keys() == final_resumed.keys()
    assert all(torch.equal(final[k], final_resumed[k]) for k in final)


def test_ddp_two_ranks_apply_the_same_values_rank0_records_and_resume_is_exact(tmp_path):
    _check_two_ranks_and_exact_resume(ROOT / "examples" / "torchrun_ddp.py", "ckpt.pt", tmp_path)


@pytest.mark.skipif(not _has_fully_shard(), reason="FSDP2 (fully_shard) needs torch >= 2.6")
def test_fsdp2_two_ranks_with_a_distributed_checkpoint_resume_exactly(tmp_path):
    _check_two_ranks_and_exact_resume(ROOT / "examples" / "torchrun_fsdp.py", "ckpt", tmp_path)
    # a real distributed checkpoint: each rank wrote its own shard file
    assert sorted(p.name for p in (tmp_path / "first" / "ckpt").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]


def test_accelerate_on_two_processes_advances_once_per_update(tmp_path):
    _torchrun(ROOT / "tests" / "_workers" / "accelerate_two_processes.py", str(tmp_path))
    for r in (0, 1):
        result = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert result["num_processes"] == 2
        assert result["batches"] == 8 and result["updates"] == 4  # gradient_accumulation_steps=2
        assert result["paramsched_step"] == 4
        assert result["applied_lr"] == result["expected_lr"]
        # what Accelerate does to a plain torch scheduler: num_processes steps per update
        assert result["lambda_lr_last_epoch"] == 8


def test_a_control_file_switches_both_ranks_at_the_same_update(tmp_path):
    _torchrun(ROOT / "tests" / "_workers" / "control_two_ranks.py", str(tmp_path))
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0 == rank1 == [0.1] * 10 + [0.01] * 10
    # built before init_process_group, the scheduler still records on rank 0 only
    lines = (tmp_path / "run" / "values.csv").read_text().splitlines()
    assert [int(line.split(",", 1)[0]) for line in lines[1:]] == list(range(20))
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (meta["rank"], meta["world_size"]) == (0, 2)
    (event,) = ps.replay.load(tmp_path / "run").events
    assert (event["step"], event["after"], event["reason"]) == (10, 0.01, "both ranks")
    assert json.loads((tmp_path / "control.json").read_text())["applied_at_step"] == 10
