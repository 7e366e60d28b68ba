"""The compare page opened in real headless Chromium (Debian's /usr/bin/chromium, via Playwright).

Never downloads a browser: without /usr/bin/chromium the test skips and says
how to get one (``apt-get install chromium``; ``make test`` does it where it
can). The screenshot is saved under the test's tmp dir and, when the
environment variable ``PARAMSCHED_ARTIFACTS`` names a folder, copied there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import paramsched as ps
from paramsched.dashboard import build_comparison, compare
from paramsched.replay.trajectory import Trajectory

from .conftest import XSS, hover, save_artifact

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_compare_page_in_chromium(chromium, csv_runs: dict[str, Path], tmp_path: Path) -> None:
    # A third run, named to inject a script, whose body lr was changed by hand for 40 steps:
    # its planned curve (the baseline's logged spec) differs from what it applied.
    baseline = ps.replay.load(csv_runs["baseline"])
    frame = baseline.frame.copy()
    frame.loc[150:189, "hp/lr/body"] = 0.05
    edited = Trajectory(frame, baseline.metadata, "edited")
    sources = {"baseline": csv_runs["baseline"], "ablation": csv_runs["ablation"], XSS: edited}
    out = compare(sources, tmp_path / "compare.html", max_points=200)
    comparison = build_comparison(sources)

    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    console, dialogs, requests = [], [], []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.resolve().as_uri())
    page.wait_for_selector("#plot[data-ready='1']", timeout=60_000)

    assert console == []
    assert dialogs == []
    assert requests == [out.resolve().as_uri()]  # nothing fetched: the page is self-contained

    # traces per panel, read from the plotly div
    traces = page.evaluate("() => document.getElementById('plot').data.map(t => [t.meta.key, t.meta.kind, t.x.length])")
    counts: dict[str, dict[str, int]] = {}
    for key, kind, points in traces:
        counts.setdefault(key, {}).setdefault(kind, 0)
        counts[key][kind] += 1
        assert 0 < points <= 202
    assert counts == {
        "lr": {"planned": 1, "applied": 6, "divergence": 1},
        "momentum": {"applied": 6, "divergence": 1},
    }
    # one legend per panel, and the hostile name shows as text in it
    legend_texts = page.locator(".legendtext").all_text_contents()
    assert f"{XSS} · body" in legend_texts
    assert page.locator(".run-name").all_inner_texts() == ["baseline", "ablation", XSS]
    assert page.title() == f"paramsched: baseline vs ablation vs {XSS}"

    # the summary tables show the numbers computed from every step
    for index, run in enumerate(comparison.runs):
        for name, series in run.series.items():
            cells = page.locator(f'table[data-run-index="{index}"] tr[data-series="{name}"] td').all_inner_texts()
            s = series.summary
            assert cells[1:8] == [
                str(run.total_steps), str(s.steps), str(s.warmup), format(s.peak, ".6g"),
                str(s.peak_step), format(s.final, ".6g"), "—" if s.decay_start is None else str(s.decay_start),
            ], (run.name, name)
    lr_body = page.locator('table[data-run-index="0"] tr[data-series="hp/lr/body"] td').all_inner_texts()
    assert lr_body[1:8] == ["300", "300", "30", "0.1", "30", format(comparison.runs[0].series["hp/lr/body"].summary.final, ".6g"), "210"]
    diff_cell = page.locator('table[data-run-index="1"] tr[data-series="hp/momentum/head"] td.differs').inner_text()
    assert diff_cell.startswith("step 1: 0.9 (ablation) vs ")
    edited_cell = page.locator('table[data-run-index="2"] tr[data-series="hp/lr/body"] td.differs').inner_text()
    assert edited_cell.startswith(f"step 150: 0.05 ({XSS}) vs ")

    page.screenshot(path=str(tmp_path / "compare-step.png"), full_page=True)

    # the x-axis toggle: fractions of each run, then back to steps
    page.click("#by-fraction")
    page.wait_for_selector("#plot[data-by='fraction']")
    first = page.evaluate("() => { const t = document.getElementById('plot').data[1]; return [t.x[t.x.length - 1], t.customdata[t.customdata.length - 1], t.meta.total]; }")
    assert first[0] == first[1] / first[2]
    assert page.get_attribute("#by-fraction", "aria-pressed") == "true"
    shot = tmp_path / "compare-browser.png"
    page.screenshot(path=str(shot), full_page=True)
    page.click("#by-step")
    page.wait_for_selector("#plot[data-by='step']")
    xs = page.evaluate("() => document.getElementById('plot').data.map(t => Array.from(t.x).every((x, i) => x === t.customdata[i]))")
    assert all(xs)
    assert console == [] and dialogs == []
    page.close()

    assert shot.stat().st_size > 20_000
    save_artifact(shot)
    save_artifact(tmp_path / "compare-step.png")


def test_family_page_in_chromium(chromium, tmp_path: Path) -> None:
    from .conftest import write_family

    runs = write_family(tmp_path / "family")
    out = compare(runs, tmp_path / "family.html", metrics=["loss"], max_points=300)
    page = chromium.new_page(viewport={"width": 1500, "height": 3200})
    console, requests = [], []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.resolve().as_uri())
    page.wait_for_selector("#plot[data-ready='1']", timeout=60_000)
    assert console == [] and requests == [out.resolve().as_uri()]
    panels = page.evaluate("() => [...new Set(document.getElementById('plot').data.map(t => t.meta.panel))]")
    assert panels == ["lineage:parent", "final:parent:loss", "hp:lr", "hp:momentum", "metric:loss", "events"]
    titles = page.locator(".gtitle, .annotation-text").all_text_contents()
    assert "lineage of parent: lr (body), branches fanned out from their branch steps" in titles

    # hover: the event's reason (escaped markup shows as text), a branch's final loss
    hover(page, "events", "event", 0, "parent: intervention at step 100 on hp/lr/body: 0.1 → 0.1 (loss spike <b>)")
    final_loss = float(ps.replay.load(runs["branch-180"]).metrics["loss"].iloc[-1])
    hover(page, "final:parent:loss", "lineage-final", 1, f"branch-180: branched at step 180; final loss {final_loss:.6g} at step 239")

    # legend click hides a trace, a second click shows it again
    index = page.evaluate("() => document.getElementById('plot').data.findIndex(t => t.meta.kind === 'metric' && t.meta.run === 'branch-120')")
    # plotly names the text of legend N "legendNtext"; the loss panel's entry reads just the run name
    entries = page.locator("text[class^='legend'][class$='text']", has_text="branch-120").all()
    metric_entry = next(e for e in entries if e.text_content() == "branch-120").bounding_box()
    page.mouse.click(metric_entry["x"] + metric_entry["width"] / 2, metric_entry["y"] + metric_entry["height"] / 2)
    page.wait_for_function(f"() => document.getElementById('plot').data[{index}].visible === 'legendonly'")
    page.mouse.click(metric_entry["x"] + metric_entry["width"] / 2, metric_entry["y"] + metric_entry["height"] / 2)
    page.wait_for_function(f"() => document.getElementById('plot').data[{index}].visible === true")

    # fraction axis: the lineage view uses the parent's length, the loss panel each run's own
    page.click("#by-fraction")
    page.wait_for_selector("#plot[data-by='fraction']")
    fan_end, loss_end = page.evaluate("""() => {
      const d = document.getElementById('plot').data;
      const fan = d.find(t => t.meta.kind === 'lineage-branch' && t.meta.run === 'branch-120');
      const loss = d.find(t => t.meta.kind === 'metric' && t.meta.run === 'branch-120');
      return [fan.x[fan.x.length - 1], loss.x[loss.x.length - 1]];
    }""")
    assert fan_end == 179 / 300 and loss_end == 179 / 180
    assert page.locator("#lineage tr[data-child]").count() == 3
    page.screenshot(path=str(tmp_path / "family-browser.png"), full_page=True)
    assert console == []
    page.close()
    save_artifact(tmp_path / "family-browser.png")
