"""Series names hp/<key>/<group> and their parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramsched.naming import check_key_name, sanitize_label
from paramsched.recording import group_label, parse_series_name, series_name


def test_examples():
    assert series_name("betas.0", "decoder") == "hp/betas.0/decoder"
    assert parse_series_name("hp/lr/blocks/0") == ("lr", "blocks/0")
    assert group_label({}, 3) == "g3"
    assert group_label({"name": "head:proj"}, 0) == "head_proj"
    assert group_label({"name": "emb é"}, 0) == "emb _"


@pytest.mark.parametrize("bad", ["lr/g0", "hp/lr", "hp//g0", "hp/lr/", "x/lr/g0"])
def test_bad_series_names(bad):
    with pytest.raises(ValueError, match="series name must look like 'hp/<key>/<group>'"):
        parse_series_name(bad)


def test_bad_keys_and_empty_group_names():
    with pytest.raises(ValueError, match="a scheduled key may contain only"):
        check_key_name("a/b")
    with pytest.raises(ValueError, match="param group 2 has an empty name"):
        group_label({"name": ""}, 2)


_keys = st.from_regex(r"[A-Za-z0-9_\-.][A-Za-z0-9_\-. ]{0,10}", fullmatch=True)


@given(key=_keys, name=st.text(min_size=1, max_size=20))
def test_names_round_trip_and_use_only_safe_characters(key, name):
    label = group_label({"name": name}, 0)
    full = series_name(check_key_name(key), label)
    assert parse_series_name(full) == (key, label)
    assert sanitize_label(full) == full
