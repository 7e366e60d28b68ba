"""Training metrics under the hyperparameters, events on the time axis, runs of any shape."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import paramsched as ps
from paramsched.dashboard import build_comparison, compare
from paramsched.dashboard.figure import figure_dict
from paramsched.dashboard.html import render_html
from paramsched.dashboard.model import panels
from paramsched.replay.trajectory import Trajectory

from .conftest import XSS, loss_curve, metrics_frame, simulated


def with_extras(traj: Trajectory, *, metrics=None, events=()) -> Trajectory:
    return Trajectory(traj.frame, traj.metadata, traj.source, metrics=metrics, events=events)


def event(step: int, kind: str, **fields) -> dict:
    base = {"step": step, "kind": kind, "series": None, "before": None, "after": None, "spec": None,
            "reason": "", "time": "2026-01-01T00:00:00+00:00"}
    return {**base, **fields}


def test_metric_panels_share_the_runs_colours_and_axis() -> None:
    a = simulated({"lr": ps.Cosine(1.0, 0.0)}, 100, ["g0"])
    b = simulated({"lr": ps.Linear(1.0, 0.0)}, 400, ["g0"])
    steps_a, steps_b = np.arange(0, 100, 2), np.arange(400)
    runs = {
        "a": with_extras(a, metrics=metrics_frame(steps_a, loss=loss_curve(steps_a), val_loss=loss_curve(steps_a, scale=2))),
        "b": with_extras(b, metrics=metrics_frame(steps_b, loss=loss_curve(steps_b))),
    }
    comparison = build_comparison(runs, metrics=["loss", "val_loss"])
    assert [p.id for p in panels(comparison)] == ["hp:lr", "metric:loss", "metric:val_loss"]
    assert comparison.notes == ["b: no 'val_loss' metric logged"]
    figure = figure_dict(comparison, by="fraction")
    lines = {(t["meta"]["panel"], t["meta"]["run"]): t for t in figure["data"] if t["meta"]["kind"] in ("applied", "metric")}
    for run in comparison.runs:
        assert lines[("metric:loss", run.name)]["line"]["color"] == run.colour
        assert lines[("metric:loss", run.name)]["line"]["dash"] == lines[("hp:lr", run.name)]["line"]["dash"]
    loss_a = lines[("metric:loss", "a")]
    assert loss_a["customdata"] == steps_a.tolist() and loss_a["x"][10] == 20 / 100
    assert loss_a["y"] == loss_curve(steps_a).tolist()
    # every panel shares the step axis
    x_axes = [k for k in figure["layout"] if k.startswith("xaxis")]
    assert len(x_axes) == 3 and all(figure["layout"][k].get("matches") == "x3" for k in x_axes[:-1])


def test_unknown_metric_names_what_the_runs_logged() -> None:
    steps = np.arange(10)
    traj = with_extras(simulated({"lr": ps.Constant(0.1)}, 10, ["g0"]), metrics=metrics_frame(steps, loss=steps * 1.0))
    with pytest.raises(ValueError, match=r"metrics: no run logged a metric named 'los'; the runs logged: a: loss; b: none"):
        build_comparison({"a": traj, "b": simulated({"lr": ps.Constant(0.1)}, 10, ["g0"])}, metrics=["los"])
    with pytest.raises(TypeError, match=r"metrics must be a list of metric names such as \['loss'\], got metrics='loss'"):
        build_comparison({"a": traj}, metrics="loss")


def test_events_marked_in_their_panel_and_on_the_time_axis() -> None:
    traj = simulated({"lr": ps.Constant(0.1), "momentum": ps.Constant(0.9)}, 200, ["g0"])
    frame = traj.frame.copy()
    frame.loc[80:, "hp/lr/g0"] = 0.05
    events = [
        event(80, "intervention", series="hp/lr/g0", before=0.1, after=0.05, reason=f"spike {XSS}"),
        event(120, "drift", series="hp/momentum/g0", before=0.9, after=0.9),
        event(150, "resume"),
    ]
    run = Trajectory(frame, traj.metadata, "edited", events=events)
    comparison = build_comparison({XSS: run})
    figure = figure_dict(comparison)
    markers = {t["meta"]["panel"]: t for t in figure["data"] if t["meta"]["kind"] == "event"}
    assert set(markers) == {"hp:lr", "hp:momentum", "events"}
    assert markers["hp:lr"]["customdata"] == [80] and markers["hp:lr"]["y"] == [0.05]
    text = f"{XSS}: intervention at step 80 on hp/lr/g0: 0.1 → 0.05 (spike {XSS})"
    assert markers["hp:lr"]["text"] == [html.escape(text)]
    strip = markers["events"]
    assert strip["customdata"] == [80, 120, 150] and strip["meta"]["kinds"] == ["intervention", "drift", "resume"]
    assert strip["marker"]["symbol"] == ["triangle-down", "circle-open", "star"]
    assert figure["layout"]["yaxis3"]["ticktext"] == [html.escape(XSS)]
    page = render_html(comparison)
    assert f'<li data-kind="intervention">{html.escape(text)}</li>' in page
    assert XSS not in page


def test_runs_with_different_keys_groups_and_step_ranges(tmp_path: Path) -> None:
    # A paramsched run (two named groups, lr + momentum), an HF-like log (lr of g0 from step 10,
    # every 10 steps), a Lightning-like log (lr of pg groups g0/g1, 50 steps): one page.
    own = simulated({"lr": ps.WarmupStableDecay(0.1, warmup=0.1, decay=0.3), "momentum": ps.Constant(0.9)},
                    300, ["body", "head"], source="runs/own")
    hf_steps = np.arange(10, 300, 10)
    hf = Trajectory.from_wide(pd.DataFrame({"step": hf_steps, "hp/lr/g0": 0.1 * np.ones(hf_steps.size)}))
    hf = with_extras(hf, metrics=metrics_frame(hf_steps, loss=loss_curve(hf_steps)))
    lt = simulated({"lr": ps.Linear(0.2, 0.0)}, 50, ["g0", "g1"])
    lt = Trajectory(lt.frame, None, "lightning/metrics.csv")
    out = compare({"own": own, "hf": hf, "lightning": lt}, tmp_path / "mixed.html", png=tmp_path / "mixed.png",
                  metrics=["loss"])
    comparison = build_comparison({"own": own, "hf": hf, "lightning": lt}, metrics=["loss"])
    assert comparison.keys == ["lr", "momentum"]
    assert [r.total_steps for r in comparison.runs] == [300, 291, 50]
    assert comparison.runs[1].series["hp/lr/g0"].divergence.reason == "no_series"
    assert "lightning: no 'loss' metric logged" in comparison.notes
    assert out.is_file() and (tmp_path / "mixed.png").read_bytes()[:4] == b"\x89PNG"
