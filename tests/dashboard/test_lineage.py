"""The lineage view: families found among the compared runs, the fan, final metric vs branch step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.dashboard import build_comparison, compare
from paramsched.dashboard.figure import figure_dict
from paramsched.dashboard.html import render_html
from paramsched.dashboard.lineage import source_identities
from paramsched.dashboard.model import panels
from paramsched.replay.trajectory import Trajectory

from .conftest import write_family


@pytest.fixture
def family(tmp_path: Path) -> dict[str, Path]:
    return write_family(tmp_path / "family")


def test_family_found_and_drawn(family: dict[str, Path], tmp_path: Path) -> None:
    comparison = build_comparison(family, metrics=["loss"])
    (found,) = comparison.families
    assert found.parent.name == "parent" and found.series == "hp/lr/body"
    assert [(b.child.name, b.branch_step, b.cooldown, b.shape) for b in found.branches] == [
        ("branch-120", 120, 60, "1-sqrt"), ("branch-180", 180, 60, "1-sqrt"), ("branch-240", 240, 60, "1-sqrt"),
    ]
    assert [p.id for p in panels(comparison)] == [
        "lineage:parent", "final:parent:loss", "hp:lr", "hp:momentum", "metric:loss", "events",
    ]
    traces = figure_dict(comparison)["data"]
    fan = [t for t in traces if t["meta"]["panel"] == "lineage:parent"]
    assert [t["meta"]["kind"] for t in fan] == ["lineage-parent"] + ["lineage-branch"] * 3
    for trace, k in zip(fan[1:], (120, 180, 240), strict=True):
        # each cooldown starts on the parent's line, the step before its branch, in the parent's steps
        assert trace["customdata"][0] == k - 1 and trace["customdata"][-1] == k + 59
        assert trace["meta"]["total"] == 300
        assert trace["y"][0] == 0.1 and trace["y"][-1] < 0.1
    (final,) = [t for t in traces if t["meta"]["kind"] == "lineage-final"]
    losses = [float(ps.replay.load(family[f"branch-{k}"]).metrics["loss"].iloc[-1]) for k in (120, 180, 240)]
    assert final["customdata"] == [120, 180, 240] and final["y"] == losses
    assert final["meta"]["children"] == ["branch-120", "branch-180", "branch-240"]
    page = render_html(comparison)
    rows = re.findall(r'<tr data-child="([^"]+)">(.*?)</tr>', page)
    assert [name for name, _ in rows] == ["branch-120", "branch-180", "branch-240"]
    assert f'data-value="{losses[2]!r}"' in rows[2][1]


def test_lineage_off_required_and_orphans(family: dict[str, Path]) -> None:
    assert build_comparison(family, lineage=False).families == []
    children = {k: v for k, v in family.items() if k != "parent"}
    orphaned = build_comparison(children)
    assert orphaned.families == []
    assert any("branch-120: branched at step 120 from" in n and "not among the compared runs" in n for n in orphaned.notes)
    with pytest.raises(ValueError, match=r"lineage=True but no compared run is a branch of another compared run"):
        build_comparison(children, lineage=True)
    with pytest.raises(TypeError, match=r"lineage must be True, False or None, got lineage='yes'"):
        build_comparison(family, lineage="yes")


def parented(traj: Trajectory, source: str, **parent: object) -> Trajectory:
    meta = dict(traj.metadata or {})
    meta["parent"] = {"source": source, "run_id": None, "fingerprint": None, "branch_step": 50,
                      "cooldown": 10, "shape": "1-sqrt", "keys": ["lr"], **parent}
    return Trajectory(traj.frame, meta, traj.source)


def test_parent_found_by_run_id_uri_relative_path_or_fingerprint(family: dict[str, Path], monkeypatch) -> None:
    parent = ps.replay.load(family["parent"])
    child = ps.replay.load(family["branch-120"])
    # an MLflow parent: by run id, whatever the tracking URI in the query string
    mlflow_parent = Trajectory(parent.frame, parent.metadata, "mlflow://abc123?tracking_uri=sqlite:///x.db")
    by_id = parented(child, "mlflow://abc123?tracking_uri=sqlite:////elsewhere.db")
    by_run_id = parented(child, "somewhere", run_id="abc123")
    for kid in (by_id, by_run_id):
        (fam,) = build_comparison({"p": mlflow_parent, "kid": kid}).families
        assert fam.parent.name == "p"
    # a W&B offline parent folder: its id is in the folder name
    assert "id:x7k2" in source_identities("/w/wandb/offline-run-20260101_120000-x7k2/run-x7k2.wandb")
    # a relative path written where the branch was made matches the run's absolute folder
    monkeypatch.chdir(family["parent"].parent.parent)
    relative = parented(child, "family/parent/values.csv")
    (fam,) = build_comparison({"parent": family["parent"], "kid": relative}).families
    assert fam.parent.name == "parent"
    # nothing names it but the fingerprint of the parent's schedules
    from paramsched import _plan
    from paramsched.replay.rebuild import rebuild

    fingerprint = _plan.fingerprint(rebuild(parent, check=False).plan)
    anonymous = parented(child, "lost", fingerprint=fingerprint)
    (fam,) = build_comparison({"parent": family["parent"], "kid": anonymous}).families
    assert fam.parent.name == "parent"


def test_family_page_and_png(family: dict[str, Path], tmp_path: Path) -> None:
    out = compare(family, tmp_path / "family.html", png=tmp_path / "family.png", metrics=["loss"])
    page = out.read_text(encoding="utf-8")
    assert "<h2>Lineage</h2>" in page and "3 branch(es)" in page
    assert (tmp_path / "family.png").read_bytes()[:4] == b"\x89PNG"


def test_final_panel_zooms_on_the_branches_and_loss_panels_are_log(family: dict[str, Path], tmp_path: Path) -> None:
    """The early loss (ten times the late one) must not flatten the branches' differences."""
    comparison = build_comparison(family, metrics=["loss"])
    layout = figure_dict(comparison)["layout"]
    ids = [p.id for p in panels(comparison)]
    final_axis = layout[f"yaxis{ids.index('final:parent:loss') + 1}"]  # the second row: yaxis2
    parent = ps.replay.load(family["parent"]).metrics["loss"]
    finals = [float(ps.replay.load(family[f"branch-{k}"]).metrics["loss"].iloc[-1]) for k in (120, 180, 240)]
    late = [*parent.loc[120:].tolist(), *finals]
    low, high = final_axis["range"]
    pad = (max(late) - min(late)) * 0.1
    assert (low, high) == (min(late) - pad, max(late) + pad) and high < parent.iloc[0]
    assert layout[f"yaxis{ids.index('metric:loss') + 1}"]["type"] == "log"
    assert layout[f"yaxis{ids.index('hp:lr') + 1}"].get("type") != "log"
    # a metric with a value <= 0 stays linear
    runs = {name: ps.replay.load(path) for name, path in family.items()}
    shifted = {name: Trajectory(t.frame, t.metadata, t.source, metrics=t.metrics - 1.0) for name, t in runs.items()}
    layout = figure_dict(build_comparison(shifted, metrics=["loss"], lineage=False))["layout"]
    assert all(axis.get("type") != "log" for name, axis in layout.items() if name.startswith("yaxis"))
