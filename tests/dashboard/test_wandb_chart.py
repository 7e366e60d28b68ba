"""The W&B custom chart spec: valid JSON, Vega-Lite v5, reading the hp/* columns by W&B field mapping."""

from __future__ import annotations

import json
import re

from paramsched.dashboard.assets import read_text

SPEC = "wandb_hp_overlay.vl.json"


def filled(mapping: dict[str, str]) -> dict:
    """The spec as W&B renders it: each ${field:name[:default]} replaced by the chosen column."""
    text = read_text(SPEC)

    def field(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        return mapping.get(f"{kind}:{name}", match.group(3) or "")

    return json.loads(re.sub(r"\$\{(field|string):([A-Za-z_]+)(?::([^}]*))?\}", field, text))


def test_spec_is_vega_lite_over_the_wandb_table() -> None:
    spec = json.loads(read_text(SPEC))
    assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
    assert spec["data"] == {"name": "wandb"}
    fields = set(re.findall(r"\$\{field:([A-Za-z_]+)", read_text(SPEC)))
    assert fields == {"step", "value", "run"}


def test_field_mapping_reaches_every_encoding() -> None:
    spec = filled({"field:value": "hp/betas.0/head", "field:step": "hp/step", "field:run": "name"})
    calculates = {t["as"]: t["calculate"] for t in spec["transform"] if "calculate" in t}
    # bracket access: a series name with a dot is one column, not a nested field
    assert calculates == {"step": "datum['hp/step']", "value": "datum['hp/betas.0/head']", "run": "datum['name']"}
    line, points = spec["layer"]
    assert line["mark"]["type"] == "line"
    assert line["encoding"]["x"]["field"] == "step" and line["encoding"]["y"]["field"] == "value"
    assert line["encoding"]["color"]["field"] == "run"
    assert line["encoding"]["y"]["title"] == "hp/betas.0/head"
    assert [t["field"] for t in points["encoding"]["tooltip"]] == ["run", "step", "value"]
    # the defaults make a working chart before any mapping is chosen
    default = filled({})
    assert {t["as"]: t["calculate"] for t in default["transform"] if "calculate" in t}["value"] == "datum['hp/lr/g0']"
