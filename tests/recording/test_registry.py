"""The recorder registry: strings and instances resolve, a missing plugin names its pip line."""

from __future__ import annotations

import pytest

from paramsched._registry import KNOWN_PLUGINS, BackendNotInstalledError
from paramsched.recording import (
    RECORDERS,
    CsvRecorder,
    Recorder,
    register_recorder,
    resolve_recorder,
)


class _Null(Recorder):
    def __init__(self, arg: str = "") -> None:
        self.arg = arg

    def start(self, metadata):
        pass

    def record(self, step, values):
        pass

    def close(self):
        pass


def test_csv_spec_is_a_directory(tmp_path):
    rec = resolve_recorder(f"csv:{tmp_path}/a")
    assert isinstance(rec, CsvRecorder) and rec.path == tmp_path / "a"


def test_a_colon_inside_the_argument_is_kept():
    rec = resolve_recorder("csv:C:/runs/a")
    assert str(rec.path) == "C:/runs/a"


def test_an_instance_is_returned_as_is():
    rec = _Null()
    assert resolve_recorder(rec) is rec


def test_registered_factories_get_no_argument_or_the_argument():
    register_recorder("test-null", _Null, replace=True)
    assert resolve_recorder("test-null").arg == ""
    assert resolve_recorder("test-null:xyz").arg == "xyz"
    assert "test-null" in RECORDERS.names()


def test_registering_a_name_twice_needs_replace():
    register_recorder("test-twice", _Null, replace=True)
    with pytest.raises(ValueError, match="a recorder named 'test-twice' is already registered"):
        register_recorder("test-twice", lambda: _Null())


def test_a_factory_must_return_a_recorder():
    register_recorder("test-bad", lambda: object(), replace=True)
    with pytest.raises(TypeError, match="registered as 'test-bad' must return a Recorder"):
        resolve_recorder("test-bad")


def test_csv_without_a_directory_says_how():
    with pytest.raises(TypeError, match=r"cannot build the recorder 'csv'.*use 'csv:ARG'"):
        resolve_recorder("csv")


@pytest.mark.parametrize("spec", [3, None, ["csv:a"], b"csv:a"])
def test_other_types_are_type_errors(spec):
    with pytest.raises(TypeError, match="a recorder must be a Recorder instance or a string"):
        resolve_recorder(spec)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown recorder 'nope'; registered recorders: .*csv"):
        resolve_recorder("nope")
    with pytest.raises(ValueError, match="must start with a backend name"):
        resolve_recorder(":x")


@pytest.mark.parametrize("name", sorted(KNOWN_PLUGINS))
def test_a_missing_plugin_names_the_pip_line(name):
    registry = type(RECORDERS)("recorder", "paramsched.no-such-group")  # nothing installed
    with pytest.raises(BackendNotInstalledError, match=f"pip install {KNOWN_PLUGINS[name]}"):
        registry.get(name)
    assert issubclass(BackendNotInstalledError, ImportError)


def test_csv_is_found_through_the_entry_point_too():
    fresh = type(RECORDERS)("recorder", "paramsched.recorders")
    assert fresh.get("csv") is CsvRecorder
