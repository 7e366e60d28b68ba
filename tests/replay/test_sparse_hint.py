"""A log written every n updates fails replay with the fix in the message (issue 12.6)."""

from __future__ import annotations

import pandas as pd
import pytest

import paramsched as ps


def test_a_strided_log_names_log_every_n_steps():
    frame = pd.DataFrame({"hp/lr/g0": [0.1, 0.2, 0.3]}, index=pd.Index([49, 99, 149], name="step"))
    schedule = ps.replay.load(frame).schedules()[("lr", "g0")]
    with pytest.raises(ValueError, match=r"every 50 updates is a chart: with Lightning, Trainer\(log_every_n_steps=1\)"):
        schedule(0, 150)


def test_a_log_that_starts_late_without_a_stride_does_not_blame_lightning():
    frame = pd.DataFrame({"hp/lr/g0": [0.1, 0.2, 0.3]}, index=pd.Index([3, 4, 9], name="step"))
    schedule = ps.replay.load(frame).schedules()[("lr", "g0")]
    with pytest.raises(ValueError, match=r"log every update from step 0, or fill it") as caught:
        schedule(0, 10)
    assert "log_every_n_steps" not in str(caught.value)
