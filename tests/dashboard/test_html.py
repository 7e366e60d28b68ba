"""The HTML page: one self-contained file, every name escaped, the template filled once."""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest

import paramsched as ps
from paramsched.dashboard import build_comparison, compare
from paramsched.dashboard.assets import read_text
from paramsched.dashboard.html import _fill, render_html, script_json

from .conftest import XSS, simulated

NASTY = 'a&b "quoted" \'single\' </script><!-- x'


def page_for(tmp_path: Path, **kwargs) -> str:
    a = simulated({"lr": ps.Cosine(1.0, 0.0)}, 100, ["g0"], source="runs/a")
    b = simulated({"lr": ps.Linear(1.0, 0.0)}, 100, ["g0"], source="runs/b")
    out = compare({XSS: a, NASTY: b}, tmp_path / "page.html", **kwargs)
    return out.read_text(encoding="utf-8")


def test_run_names_never_reach_the_page_unescaped(tmp_path: Path) -> None:
    page = page_for(tmp_path, title=f"title {XSS}")
    template = read_text("compare.html")
    # exactly the template's script elements: no injected one
    assert len(re.findall(r"<script", page, re.I)) == len(re.findall(r"<script", template, re.I))
    assert XSS not in page and "</script><!--" not in page
    assert html.escape(XSS) in page  # in the tables, the title and the plotly names
    assert "<title>title &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    # the JSON blocks hold no '<', '>' or '&' at all; they parse back to the original names
    for block in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S):
        assert not set("<>&") & set(block)
        json.loads(block)
    figure = json.loads(re.search(r'id="paramsched-figure">(.*?)</script>', page, re.S).group(1))
    runs = {t["meta"]["run"] for t in figure["data"]}
    assert runs == {XSS, NASTY}  # raw names in meta (data, never markup)
    names = {t["name"] for t in figure["data"]}
    assert html.escape(f"{XSS} · g0") in names  # plotly renders names as markup: escaped


def test_page_is_self_contained(tmp_path: Path) -> None:
    page = page_for(tmp_path)
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs()[:200] in page  # plotly.js inlined
    assert not re.search(r"<script[^>]+src=", page, re.I)
    assert not re.search(r"<link[^>]+href=", page, re.I)
    assert "cdn.plot.ly" not in page.replace(get_plotlyjs(), "")


def test_script_json_escapes_markup_characters() -> None:
    text = script_json({"name": "</script><script>alert('&')</script>", "line": "a\u2028b"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": "</script><script>alert('&')</script>", "line": "a\u2028b"}
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})  # NaN is not JSON: never written into a page


def test_template_is_filled_in_one_pass() -> None:
    assert _fill("{{a}} {{b}}", {"a": "{{b}}", "b": "B"}) == "{{b}} B"
    with pytest.raises(ValueError, match=r"placeholders nobody fills: \['c'\]"):
        _fill("{{c}}", {})


def test_summary_table_cells(tmp_path: Path) -> None:
    comparison = build_comparison({"a": simulated({"lr": ps.WarmupStableDecay(0.5, warmup=10, decay=20)}, 100, ["g0"])})
    page = render_html(comparison)
    row = re.search(r'<tr data-series="hp/lr/g0">(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    s = comparison.runs[0].series["hp/lr/g0"].summary
    assert cells == ["hp/lr/g0", "100", "100", "10", "0.5", "10", format(s.final, ".6g"), "80", "reference"]
    assert f'data-value="{s.final!r}"' in row


def test_missing_plotly_or_matplotlib_names_the_install_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramsched import BackendNotInstalledError

    comparison = build_comparison({"a": simulated({"lr": ps.Cosine(1.0, 0.0)}, 10, ["g0"])})
    for module in ("plotly", "plotly.offline", "plotly.subplots"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(BackendNotInstalledError, match=r"the HTML dashboard needs plotly: pip install 'paramsched\[dashboard\]'"):
        render_html(comparison)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    from paramsched.dashboard.png import write_png

    with pytest.raises(BackendNotInstalledError, match=r"the PNG dashboard needs matplotlib"):
        write_png(comparison, tmp_path / "x.png")
