"""The comparison model: who imports whom, one style per run, overlapping runs accounted for."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import paramsched as ps
import paramsched.dashboard as dashboard
from paramsched.dashboard import build_comparison
from paramsched.dashboard.figure import figure_dict, plotly_dash
from paramsched.dashboard.model import DASHES, PALETTE, shade

from .conftest import make_traj, simulated

PACKAGE = Path(dashboard.__file__).parent


def dashboard_imports(module: str) -> set[str]:
    """The paramsched.dashboard modules ``module`` imports (at any level of the file)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("paramsched.dashboard."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("paramsched.dashboard."))
    return found


def test_renderers_import_the_model_never_each_other_or_the_loader() -> None:
    assert dashboard_imports("model") <= {"summary"}
    assert dashboard_imports("lineage") == {"model"}
    assert dashboard_imports("figure") == {"assets", "downsample", "model"}
    assert dashboard_imports("html") == {"assets", "downsample", "figure", "model"}
    assert dashboard_imports("png") == {"assets", "downsample", "model"}
    assert "compare" not in set().union(*(dashboard_imports(m) for m in ("model", "figure", "html", "png", "lineage")))


def test_one_colour_and_one_dash_per_run_groups_are_shades() -> None:
    runs = {
        name: simulated({"lr": ps.Cosine(1.0, 0.1 * i)}, 50, ["body", "head"])
        for i, name in enumerate(["ref", "a", "b"])
    }
    comparison = build_comparison(runs)
    assert [r.colour for r in comparison.runs] == list(PALETTE[:3])
    assert [r.dash for r in comparison.runs] == [(), DASHES[1], DASHES[2]]
    for run in comparison.runs:
        assert [s.colour for s in run.series.values()] == [run.colour, shade(run.colour, 1)]
    applied = [t for t in figure_dict(comparison)["data"] if t["meta"]["kind"] == "applied"]
    styles = {(t["meta"]["run"], t["line"]["dash"]) for t in applied}
    assert styles == {("ref", "solid"), ("a", plotly_dash(DASHES[1])), ("b", plotly_dash(DASHES[2]))}


def test_identical_series_say_so_in_the_legend() -> None:
    # The demo's case: an ablation replays the baseline's lr, so its lr lines lie exactly on it.
    lr = simulated({"lr": ps.WarmupStableDecay(0.1, warmup=0.1, decay=0.3)}, 120, ["g0"]).frame["hp/lr/g0"].to_numpy()
    base = make_traj({"hp/lr/body": lr, "hp/lr/head": lr * 3, "hp/momentum/body": np.full(120, 0.9),
                      "hp/momentum/head": np.full(120, 0.9)})
    ablation = make_traj({c: base.frame[c].to_numpy() for c in base.frame.columns})
    other = make_traj({"hp/lr/body": lr * 0.5, "hp/lr/head": lr})
    comparison = build_comparison({"baseline": base, "ablation": ablation, "other": other})
    names = {(t["meta"]["run"], t["meta"]["key"], t["meta"]["group"]): t["name"]
             for t in figure_dict(comparison)["data"] if t["meta"]["kind"] == "applied"}
    assert names[("baseline", "lr", "body")] == "baseline · body"
    assert names[("baseline", "lr", "head")] == "baseline · head"
    assert names[("baseline", "momentum", "head")] == "baseline · head (identical to body)"
    assert names[("ablation", "lr", "body")] == "ablation · body (identical to baseline)"
    assert names[("ablation", "lr", "head")] == "ablation · head (identical to baseline)"
    assert names[("ablation", "momentum", "head")] == "ablation · head (identical to baseline)"
    assert names[("other", "lr", "body")] == "other · body"
    assert names[("other", "lr", "head")] == "other · head (identical to baseline · body)"
    # one step off is not identical
    values = lr.copy()
    values[7] = np.nextafter(values[7], 1.0)
    near = build_comparison({"baseline": base, "near": make_traj({"hp/lr/body": values})})
    assert near.runs[1].series["hp/lr/body"].identical_to is None
