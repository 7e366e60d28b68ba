"""The compare page opened in real headless Chromium (Debian's /usr/bin/chromium, via Playwright).

Never downloads a browser: without /usr/bin/chromium the test skips and says
how to get one (``apt-get install chromium``; ``make test`` does it where it
can). The screenshot is saved under the test's tmp dir and, when the
environment variable ``PARAMSCHED_ARTIFACTS`` names a folder, copied there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.dashboard import build_comparison, compare
from paramsched.replay.trajectory import Trajectory

from .conftest import XSS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright); no browser download needed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def save_artifact(path: Path) -> None:
    folder = os.environ.get("PARAMSCHED_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(folder) / path.name)


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
