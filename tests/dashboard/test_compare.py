"""compare(): loading, summaries over every step, planned curves, divergences, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import paramsched as ps
from paramsched.dashboard import build_comparison, compare
from paramsched.dashboard.figure import plotly_dash
from paramsched.dashboard.html import figure_dict, render_html
from paramsched.dashboard.model import DASHES, PLANNED_DASH

from .conftest import XSS, make_traj, metadata_for, simulated


def figure_json(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="paramsched-figure">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def traces_by_panel(figure: dict) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for trace in figure["data"]:
        kinds = counts.setdefault(trace["meta"]["key"], {})
        kinds[trace["meta"]["kind"]] = kinds.get(trace["meta"]["kind"], 0) + 1
    return counts


def test_recorded_csv_runs(csv_runs: dict[str, Path], tmp_path: Path) -> None:
    out = compare([csv_runs["baseline"], csv_runs["ablation"]], tmp_path / "c.html", png=tmp_path / "c.png")
    assert out == tmp_path / "c.html" and out.is_file()
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    comparison = build_comparison([csv_runs["baseline"], csv_runs["ablation"]])
    assert [r.name for r in comparison.runs] == ["baseline", "ablation"]
    assert comparison.keys == ["lr", "momentum"]
    base, ablation = comparison.runs
    assert base.is_reference and base.total_steps == 300 and base.total_from_metadata
    # the replayed lr is identical; the momentum differs from step 1 (cosine vs constant, equal at 0)
    for group in ("body", "head"):
        assert ablation.series[f"hp/lr/{group}"].divergence is None
        d = ablation.series[f"hp/momentum/{group}"].divergence
        assert d is not None and (d.step, d.reason, d.value) == (1, "value", 0.9)
        assert d.reference_value == ps.Cosine(0.9, 0.5)(1, 300)
    # the logged specs rebuild exactly the applied values: no planned curve to draw
    assert not any(s.planned_differs for run in comparison.runs for s in run.series.values())
    assert comparison.notes == []
    # the ablation's lr is a replay of the baseline's log; its momentum has a planned curve
    assert ablation.series["hp/lr/body"].replayed and not base.series["hp/lr/body"].replayed
    assert ablation.series["hp/momentum/head"].planned is not None
    assert np.all(ablation.series["hp/momentum/head"].planned == 0.9)
    assert render_html(comparison).count('title="scheduled by replaying another run\'s log">replayed</span>') == 2
    counts = traces_by_panel(figure_dict(comparison))
    assert counts == {"lr": {"applied": 4}, "momentum": {"applied": 4, "divergence": 1}}


def test_summary_uses_every_step_even_when_drawing_few(tmp_path: Path) -> None:
    total = 50_000
    schedule = ps.WarmupStableDecay(1.0, warmup=0.1, decay=0.3)
    traj = simulated({"lr": schedule}, total, ["g0"], source="big")
    values = traj.frame["hp/lr/g0"].to_numpy().copy()
    values[33_333] = 2.0  # one spike: the peak, at a step no uniform subsample lands on
    spiky = make_traj({"hp/lr/g0": values}, source="spiky")
    comparison = build_comparison({"big": traj, "spiky": spiky})
    s = comparison.runs[1].series["hp/lr/g0"].summary
    assert (s.peak, s.peak_step, s.warmup) == (2.0, 33_333, 33_333)
    assert comparison.runs[0].series["hp/lr/g0"].summary.decay_start == total - 15_000
    page = render_html(comparison, max_points=300)
    for trace in figure_json(page)["data"]:
        assert len(trace["x"]) <= 302
    # the table shows the full-data numbers
    assert 'data-value="2.0">2</td>' in page and 'data-value="33333">33333</td>' in page


def test_planned_curve_drawn_only_where_it_differs() -> None:
    total = 200
    schedule = ps.Cosine(1.0, 0.0)
    traj = simulated({"lr": schedule}, total, ["g0"])
    values = traj.frame["hp/lr/g0"].to_numpy().copy()
    values[100:120] = 0.25  # somebody changed the lr by hand for 20 steps
    edited = make_traj({"hp/lr/g0": values}, metadata=traj.metadata, source="edited")
    comparison = build_comparison({"edited": edited})
    series = comparison.runs[0].series["hp/lr/g0"]
    assert series.planned_differs
    assert np.array_equal(series.planned, traj.frame["hp/lr/g0"].to_numpy())
    planned = [t for t in figure_dict(comparison)["data"] if t["meta"]["kind"] == "planned"]
    assert len(planned) == 1
    trace = planned[0]
    # dotted: a pattern no run's applied line uses (runs are told apart by their dashes)
    assert trace["line"]["dash"] == plotly_dash(PLANNED_DASH) == "2px,3px"
    assert PLANNED_DASH not in DASHES
    shown = [step for step, y in zip(trace["customdata"], trace["y"], strict=True) if y is not None]
    assert shown == list(range(99, 121))  # the differing steps plus one neighbour each side
    assert all(y == schedule(step, total) for step, y in zip(trace["customdata"], trace["y"], strict=True) if y is not None)


def test_relative_run_planned_values_use_group_bases() -> None:
    total = 50
    frame = ps.simulate({"lr": ps.Linear(1.0, 0.0)}, total, groups=[{"name": "a", "lr": 0.5}], relative=True)
    meta = metadata_for({"lr": ps.Linear(1.0, 0.0)}, total, ["a"], relative=True)
    meta["groups"][0]["base"] = {"lr": 0.5}
    traj = make_traj({"hp/lr/a": frame["hp/lr/a"].to_numpy()}, metadata=meta)
    series = build_comparison([traj]).runs[0].series["hp/lr/a"]
    assert series.planned is not None and not series.planned_differs
    assert series.planned[10] == ps.Linear(1.0, 0.0)(10, total) * 0.5


def test_unrebuildable_spec_becomes_a_note_not_an_error() -> None:
    meta = metadata_for({"lr": ps.Constant(0.1)}, 3, ["g0"])
    meta["schedules"]["lr"] = {"type": "NoSuchSchedule"}
    comparison = build_comparison([make_traj({"hp/lr/g0": [0.1, 0.1, 0.1]}, metadata=meta, source="odd")])
    assert comparison.runs[0].series["hp/lr/g0"].planned is None
    assert len(comparison.notes) == 1 and "NoSuchSchedule" in comparison.notes[0]
    assert "NoSuchSchedule" in render_html(comparison)


def test_fraction_axis_and_reference_by_name() -> None:
    a = simulated({"lr": ps.Cosine(1.0, 0.0)}, 100, ["g0"], source="runs/short")
    b = simulated({"lr": ps.Cosine(1.0, 0.0)}, 400, ["g0"], source="runs/long")
    comparison = build_comparison([a, b], reference="long")
    assert [r.is_reference for r in comparison.runs] == [False, True]
    applied = {t["meta"]["run"]: t for t in figure_dict(comparison, by="fraction")["data"] if t["meta"]["kind"] == "applied"}
    assert applied["short"]["x"][50] == 0.5 and applied["long"]["x"][200] == 0.5
    assert applied["long"]["customdata"][200] == 200
    # run names come from the sources; duplicates get a suffix
    names = [r.name for r in build_comparison([a, a]).runs]
    assert names == ["short", "short (2)"]


def test_series_only_in_one_run_and_foreign_columns() -> None:
    a = make_traj({"hp/lr/g0": [1.0, 2.0]})
    b = make_traj({"hp/lr/g0": [1.0, 2.0], "hp/momentum/g0": [0.9, 0.9]})
    comparison = build_comparison({"a": a, "b": b})
    assert comparison.keys == ["lr", "momentum"]
    d = comparison.runs[1].series["hp/momentum/g0"].divergence
    assert d is not None and d.reason == "no_series" and d.step is None


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda t, p: compare([t], p, by="epoch"), ValueError, r"by must be one of 'step', 'fraction', got by='epoch'"),
        (lambda t, p: compare([t], p, reference=3), ValueError, r"reference must be a run index in 0..0, got reference=3"),
        (lambda t, p: compare([t], p, reference="nope"), ValueError, r"reference must be one of the run names \['x'\], got reference='nope'"),
        (lambda t, p: compare([t], p, reference=1.0), TypeError, r"reference must be a run index \(int\) or name \(str\)"),
        (lambda t, p: compare("runs/a", p), TypeError, r"got a single source sources='runs/a'; wrap it in a list"),
        (lambda t, p: compare([], p), ValueError, r"sources must name at least one run"),
        (lambda t, p: compare({"": t}, p), TypeError, r"must map run names \(non-empty str\)"),
        (lambda t, p: compare([t], 3), TypeError, r"out must be a file path"),
        (lambda t, p: compare([t], p, max_points=1), ValueError, r"max_points must be an int >= 4"),
        (lambda t, p: compare([t], p, title=5), TypeError, r"title must be a string or None, got title=5"),
        (lambda t, p: compare([p.parent / "missing"], p), FileNotFoundError, r"no run at .*missing.*does not exist"),
    ],
)
def test_bad_arguments(call, error, match, tmp_path: Path) -> None:
    traj = make_traj({"hp/lr/g0": [1.0, 2.0]}, source="x")
    with pytest.raises(error, match=match):
        call(traj, tmp_path / "out.html")
    assert not (tmp_path / "out.html").exists()


def test_no_series_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"sources hold no hyperparameter series"):
        compare([make_traj({"hp/lr/g0": [1.0, 2.0]}, source="empty").select(keys=[])], tmp_path / "x.html")


def test_png_only_when_out_ends_in_png(tmp_path: Path) -> None:
    traj = simulated({"lr": ps.Cosine(1.0, 0.0)}, 100, ["g0"], source=XSS)
    out = compare({XSS: traj}, tmp_path / "only.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "only.html").exists()
