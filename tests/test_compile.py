"""torch.compile: in-place tensor values mean a compiled optimizer step never recompiles."""

from __future__ import annotations

import pytest
import torch

import paramsched as ps


@pytest.mark.slow
def test_tensor_values_cause_no_recompiles_of_a_compiled_optimizer_step(monkeypatch):
    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    # Any recompilation (a guard on a changed value failing) raises instead of passing quietly.
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)
    sched = ps.ParamScheduler(
        opt,
        {"lr": ps.WarmupStableDecay(1e-2, warmup=5, decay=5), "betas.0": ps.Linear(0.85, 0.95)},
        total_steps=20,
        tensors=True,
    )

    @torch.compile
    def compiled_step():
        opt.step()

    seen = []
    for _ in range(20):
        model(torch.randn(4, 8)).sum().backward()
        compiled_step()
        opt.zero_grad()
        seen.append((float(opt.param_groups[0]["lr"]), float(opt.param_groups[0]["betas"][0])))
        sched.step()
        if len(seen) == 1:
            graphs_after_first_step = counters["stats"]["unique_graphs"]
    assert graphs_after_first_step >= 1
    assert counters["stats"]["unique_graphs"] == graphs_after_first_step  # 0 recompiles
    assert len(set(seen)) > 10  # the values really changed between steps
