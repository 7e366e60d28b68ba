"""Issue 14, "done when": train a parent, branch two children from two of its checkpoints, and
draw the family with ``paramsched compare`` (lineage view and loss panel, checked in Chromium).

Lineage read back from MLflow and W&B is tested with those integrations; here it is the CSV run.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import paramsched as ps
from paramsched.cli import main

from .conftest import hover, open_page, save_artifact

TOTAL, EVERY, BRANCHES, COOLDOWN = 60, 10, (20, 40), 16


def _model_and_opt():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(
        [{"params": model[0].parameters(), "name": "body"}, {"params": model[2].parameters(), "name": "head"}],
        lr=1e-3,
    )
    return model, opt


def _train(model, opt, sched, start, stop):
    for k in range(start, stop):  # the batch of step k depends on k only: a resumed run sees the same data
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(k))
        loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True).cos())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step(metrics={"loss": loss.item()})


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> tuple[dict[str, Path], dict[int, dict], dict[str, ps.Branch]]:
    """The parent (warmup then constant lr, momentum warmup, loss logged), checkpointed every 10
    steps, and two children branched from its checkpoints at 20 and 40."""
    root = tmp_path_factory.mktemp("family")
    model, opt = _model_and_opt()
    schedules = {"lr": ps.WarmupStableDecay(3e-3, warmup=5, decay=0), "betas.0": ps.Linear(0.85, 0.95)}
    checkpoints = {}
    with ps.ParamScheduler(opt, schedules, TOTAL, recorders=[f"csv:{root / 'parent'}"], record_metrics=True) as sched:
        for start in range(0, TOTAL, EVERY):
            _train(model, opt, sched, start, start + EVERY)
            checkpoints[start + EVERY] = copy.deepcopy(
                {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
            )
    runs, branches = {"parent": root / "parent"}, {}
    for k in BRANCHES:
        child = ps.branch(root / "parent", at_step=k, cooldown=COOLDOWN, shape="1-sqrt")
        model, opt = _model_and_opt()
        sched = ps.ParamScheduler(opt, **child.scheduler_kwargs(), recorders=[f"csv:{root / f'child-{k}'}"],
                                  record_metrics=True)
        model.load_state_dict(checkpoints[k]["model"])
        opt.load_state_dict(checkpoints[k]["opt"])
        sched.load_state_dict(checkpoints[k]["sched"])  # the parent's checkpoint: no strict=False
        with sched:
            _train(model, opt, sched, k, child.total_steps)
        runs[f"child-{k}"], branches[f"child-{k}"] = root / f"child-{k}", child
    return runs, checkpoints, branches


def test_children_are_their_parent_up_to_the_branch_step(family) -> None:
    runs, checkpoints, branches = family
    parent = ps.replay.load(runs["parent"])
    for name, child in branches.items():
        k = child.lineage["branch_step"]
        # each child's values for steps < k are the parent's, ==
        planned = ps.simulate(child.schedules, child.total_steps, groups=["body", "head"])
        assert planned.loc[: k - 1].equals(parent.frame.loc[: k - 1, planned.columns])
        # ... so training under the child's schedules from step 0 reaches the parent's checkpoint at k
        model, opt = _model_and_opt()
        sched = ps.ParamScheduler(opt, child.schedules, child.total_steps)
        _train(model, opt, sched, 0, k)
        assert _same_weights(model.state_dict(), checkpoints[k]["model"])
        # the child's log: its cooldown from the parent's value at k, with its lineage and loss
        log = ps.replay.load(runs[name])
        assert log.frame.index.tolist() == list(range(k, k + COOLDOWN))
        assert log.frame.at[k, "hp/lr/body"] == parent.frame.at[k, "hp/lr/body"]
        assert log.lineage["branch_step"] == k and log.lineage["fingerprint"] == checkpoints[k]["sched"]["fingerprint"]
        assert log.metrics.index.tolist() == list(range(k, k + COOLDOWN))


@pytest.mark.browser
@pytest.mark.slow
def test_compare_draws_the_family_with_the_loss_panel_in_chromium(family, chromium, tmp_path: Path, capsys) -> None:
    runs, _, _ = family
    out = tmp_path / "family.html"
    code = main(["compare", *map(str, runs.values()), "--metric", "loss", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    page, console, requests = open_page(chromium, out)
    assert console == [] and requests == [out.resolve().as_uri()]  # offline: nothing fetched
    panels = page.evaluate("() => [...new Set(document.getElementById('plot').data.map(t => t.meta.panel))]")
    assert panels == ["lineage:parent", "final:parent:loss", "hp:lr", "hp:betas.0", "metric:loss", "events"]
    # the fan: each child's cooldown starts at its branch step, on the parent's line (the same value)
    fan = page.evaluate("""() => document.getElementById('plot').data
        .filter(t => t.meta.kind === 'lineage-branch').map(t => [t.meta.run, t.customdata[0], t.meta.branch_step])""")
    assert fan == [["child-20", 20, 20], ["child-40", 40, 40]]
    # the loss panel: one line per run, the children's from their branch step
    losses = page.evaluate("""() => document.getElementById('plot').data
        .filter(t => t.meta.kind === 'metric').map(t => [t.meta.run, t.customdata[0], t.line.color])""")
    colours = page.evaluate("""() => Object.fromEntries(document.getElementById('plot').data
        .filter(t => t.meta.panel === 'hp:lr' && t.meta.kind === 'applied' && t.meta.group === 'body')
        .map(t => [t.meta.run, t.line.color]))""")
    assert [(run, first) for run, first, _ in losses] == [("parent", 0), ("child-20", 20), ("child-40", 40)]
    assert all(colour == colours[run] for run, _, colour in losses)  # the same colour per run
    final = float(ps.replay.load(runs["child-40"]).metrics["loss"].iloc[-1])
    hover(page, "final:parent:loss", "lineage-final", 1,
          f"child-40: branched at step 40; final loss {final:.6g} at step {40 + COOLDOWN - 1}")
    hover(page, "events", "event", 0, "child-20: resume at step 20")
    assert page.locator("#lineage tr[data-child]").count() == 2
    shot = tmp_path / "branch-family.png"
    page.screenshot(path=str(shot), full_page=True)
    assert console == []
    page.close()
    save_artifact(shot)
