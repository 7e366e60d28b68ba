"""FanOut: every recorder gets every call, errors surface after all were served."""

from __future__ import annotations

import pytest

from paramsched.recording import CsvRecorder, FanOut, Recorder, RecorderError


class _List(Recorder):
    def __init__(self, fail_on: set[str] = frozenset(), name: str = "list") -> None:
        self.calls: list[tuple] = []
        self.fail_on = fail_on
        self.name = name

    def _maybe_fail(self, what):
        if what in self.fail_on:
            raise OSError(f"{self.name} broke in {what}")

    def start(self, metadata):
        self.calls.append(("start",))
        self._maybe_fail("start")

    def record(self, step, values):
        self.calls.append(("record", step, dict(values)))
        self._maybe_fail("record")

    def flush(self):
        self.calls.append(("flush",))
        self._maybe_fail("flush")

    def close(self):
        self.calls.append(("close",))
        self._maybe_fail("close")


def _run(fan, steps=3):
    fan.start({"series": ["hp/lr/g0"]})
    for step in range(steps):
        fan.record(step, {"hp/lr/g0": step / 3})
    fan.flush()
    fan.close()


def test_every_recorder_gets_every_call():
    a, b = _List(), _List()
    _run(FanOut([a, b]))
    assert a.calls == b.calls
    assert [c for c in a.calls if c[0] == "record"] == [("record", s, {"hp/lr/g0": s / 3}) for s in range(3)]


def test_strings_resolve_through_the_registry(tmp_path, rh):
    fan = FanOut([f"csv:{tmp_path}/a", _List()])
    assert isinstance(fan.recorders[0], CsvRecorder) and len(fan) == 2


def test_a_failing_record_does_not_starve_the_others_and_surfaces():
    bad, good = _List({"record"}, name="bad"), _List(name="good")
    fan = FanOut([bad, good])
    fan.start({"series": ["hp/lr/g0"]})
    with pytest.raises(OSError, match="bad broke in record"):
        fan.record(0, {"hp/lr/g0": 0.5})
    assert good.calls[-1] == ("record", 0, {"hp/lr/g0": 0.5})
    fan.close()


def test_several_failures_name_each_backend():
    fan = FanOut([_List({"close"}, name="a"), _List({"close"}, name="b"), _List(name="c")])
    fan.start({})
    with pytest.raises(RecorderError, match=r"fanout recorder: 2 recorders failed in close\(\): a: OSError: a broke.*b: OSError: b broke") as info:
        fan.close()
    assert isinstance(info.value.__cause__, OSError)
    assert fan.recorders[2].calls[-1] == ("close",)


def test_a_recorder_whose_start_failed_is_not_called_again():
    bad, good = _List({"start"}, name="bad"), _List(name="good")
    fan = FanOut([bad, good])
    with pytest.raises(OSError, match="bad broke in start"):
        fan.start({})
    fan.record(0, {"hp/lr/g0": 1.0})
    fan.close()
    assert bad.calls == [("start",)]
    assert good.calls[-1] == ("close",)


@pytest.mark.parametrize("bad", ["csv:x", 3, None])
def test_recorders_must_be_a_list(bad):
    with pytest.raises(TypeError, match="recorders must be a list"):
        FanOut(bad)
