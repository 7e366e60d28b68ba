"""The per-run-length memo every schedule keeps (``Schedule._memo``): derived, never
configuration, and always giving the values a fresh schedule gives."""

from __future__ import annotations

import copy
import pickle

import pytest

import paramsched as ps
from paramsched.testing import schedule_examples

EXAMPLES = schedule_examples()
TOTALS = (100, 7, 1000, 100, 1, 7)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_values_at_alternating_run_lengths_are_those_of_a_fresh_schedule(name):
    schedule = EXAMPLES[name]
    for total in TOTALS:
        fresh = ps.schedule_from_spec(schedule.to_spec())
        steps = sorted({0, 1, total // 3, total // 2, total - 1, total, total + 5})
        try:
            fresh.validate(total)
        except ValueError:
            continue  # an example that does not fit this run length
        assert [schedule(k, total) for k in steps] == [fresh(k, total) for k in steps], (name, total)


def test_the_memo_is_not_configuration():
    s = ps.WarmupStableDecay(1.0, warmup=0.1, decay=0.2)
    before = (repr(s), s.to_spec(), hash(s))
    s(5, 100)
    assert s._memo == (100, 10, 80, 20)  # total_steps, warmup, decay start, decay
    assert (repr(s), s.to_spec(), hash(s)) == before
    assert s == ps.WarmupStableDecay(1.0, warmup=0.1, decay=0.2)
    assert "_memo" not in pickle.loads(pickle.dumps(s)).__dict__
    assert "_memo" not in copy.copy(s).__dict__
    s(5, 50)
    assert s._memo == (50, 5, 40, 10)  # the last run length asked for


def test_a_schedule_is_evaluated_without_resolving_its_durations_again(monkeypatch):
    s = ps.Sequence([ps.Step(1.0, milestones=[0.25, 0.5]), ps.InverseSqrt(1.0, warmup=0.1)], boundaries=[0.5])
    s.validate(1000)
    values = [s(k, 1000) for k in range(1000)]
    calls = []

    def counting(self, total_steps):
        calls.append(type(self).__name__)
        return ()

    for cls in (ps.Sequence, ps.Step, ps.InverseSqrt):
        monkeypatch.setattr(cls, "_resolve", counting)
    assert [s(k, 1000) for k in range(1000)] == values
    assert calls == []
