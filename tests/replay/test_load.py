"""replay.load(): resolution through the SOURCES registry, and its errors."""

from __future__ import annotations

import pandas as pd
import pytest

from paramsched import _registry
from paramsched._registry import BackendNotInstalledError
from paramsched.replay import SOURCES, Source, Trajectory, load, register_source


class Marker:
    """An object only the test source claims."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame


class MarkerSource(Source):
    name = "zz-marker"
    accepts = "a Marker"

    def claims(self, obj):
        return isinstance(obj, Marker) or (isinstance(obj, str) and obj.startswith("zz-marker://"))

    def load(self, obj, *, scale: float = 1.0):
        if isinstance(obj, str):
            return Trajectory.from_wide(pd.DataFrame({"step": [0], "hp/lr/g0": [scale]}), source=obj)
        return Trajectory.from_wide(obj.frame.assign(**{"hp/lr/g0": obj.frame["hp/lr/g0"] * scale}), source="marker")


class BadSource(Source):
    name = "zz-bad"

    def claims(self, obj):
        return obj == "bad-object"

    def load(self, obj, **options):
        return {"not": "a trajectory"}


@pytest.fixture
def extra_sources():
    register_source("zz-marker", MarkerSource)
    register_source("zz-bad", BadSource)
    yield
    for name in ("zz-marker", "zz-bad"):
        SOURCES._factories.pop(name, None)


def test_builtin_sources_come_from_entry_points():
    assert {"csv", "dataframe"} <= set(SOURCES.names())
    from paramsched.replay.sources.csv import CsvSource
    from paramsched.replay.sources.dataframe import DataFrameSource

    assert SOURCES.get("csv") is CsvSource and SOURCES.get("dataframe") is DataFrameSource


def test_claims_picks_the_source_and_passes_options(extra_sources):
    frame = pd.DataFrame({"step": [0, 1], "hp/lr/g0": [1.0, 2.0]})
    traj = load(Marker(frame), scale=0.5)
    assert traj.source == "marker" and traj.frame["hp/lr/g0"].tolist() == [0.5, 1.0]


def test_scheme_picks_the_named_source_with_the_whole_string(extra_sources):
    traj = load("zz-marker://anything?x=1", scale=3.0)
    assert traj.source == "zz-marker://anything?x=1" and traj.frame["hp/lr/g0"].tolist() == [3.0]


def test_keymap_for_a_source_that_cannot_take_it(extra_sources):
    with pytest.raises(TypeError, match=r"^the source 'zz-marker' does not take keymap=; got keymap='hf'$"):
        load("zz-marker://x", keymap="hf")


def test_source_returning_something_else(extra_sources):
    with pytest.raises(TypeError, match=r"^the source 'zz-bad' returned \{'not': 'a trajectory'\}, expected a Trajectory$"):
        load("bad-object")


def test_unknown_scheme_lists_registered_sources():
    with pytest.raises(ValueError, match=r"^unknown source 'nosuch'; registered sources: csv, dataframe"):
        load("nosuch://run/1")


def test_missing_plugin_names_its_pip_line(monkeypatch):
    monkeypatch.setitem(_registry.KNOWN_PLUGINS, "zzplug", "paramsched-zzplug")
    with pytest.raises(
        BackendNotInstalledError,
        match=r"^the source 'zzplug' needs the package paramsched-zzplug: pip install paramsched-zzplug$",
    ):
        load("zzplug://RUN_ID")


@pytest.mark.parametrize("scheme, dist", [("mlflow", "paramsched-mlflow"), ("wandb", "paramsched-wandb")])
def test_tracker_schemes_without_their_plugin(scheme, dist):
    if scheme in SOURCES.names():
        pytest.skip(f"{dist} is installed here: its own tests cover {scheme}://")
    with pytest.raises(BackendNotInstalledError, match=rf"pip install {dist}$"):
        load(f"{scheme}://x/y")


def test_missing_path_is_file_not_found(tmp_path):
    missing = tmp_path / "runs" / "nope"
    with pytest.raises(FileNotFoundError, match=rf"^no run at '{missing}': the path does not exist$"):
        load(missing)
    with pytest.raises(FileNotFoundError, match=r"no run at 'runs/definitely-not-here'"):
        load("runs/definitely-not-here")


def test_unclaimed_object_lists_what_each_source_accepts():
    with pytest.raises(
        ValueError,
        match=r"^no replay source can read 42; registered sources: csv \(a CSV run directory holding values\.csv, "
        r"or a \.csv file\), dataframe \(a pandas DataFrame",
    ):
        load(42)


def test_register_source_refuses_a_second_factory(extra_sources):
    with pytest.raises(ValueError, match=r"a source named 'zz-marker' is already registered"):
        register_source("zz-marker", BadSource)
    register_source("zz-marker", BadSource, replace=True)
    assert SOURCES.get("zz-marker") is BadSource


def test_every_installed_source_takes_a_keymap():
    """Issue 12.2: a foreign log can be read from any source (CSV, DataFrame, trainer_state.json,
    spool, and MLflow, W&B, TensorBoard where installed)."""
    import inspect

    checked = []
    for name, factory in SOURCES.items():
        try:
            instance = factory()
        except BackendNotInstalledError:
            continue
        assert "keymap" in inspect.signature(instance.load).parameters, name
        checked.append(name)
    assert {"csv", "dataframe", "hf", "spool"} <= set(checked)
