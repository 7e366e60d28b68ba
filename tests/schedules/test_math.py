"""The shared schedule arithmetic: the scalar and the numpy interpolation give the same bits."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from paramsched.schedules._math import lerp, lerp_array

reals = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
fractions = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0))


@given(st.lists(st.tuples(reals, reals, fractions), min_size=1, max_size=50))
def test_lerp_array_is_lerp_elementwise(triples):
    a, b, t = (np.array(column, dtype=np.float64) for column in zip(*triples))
    vectorized = lerp_array(a, b, t).tolist()
    assert vectorized == [lerp(x, y, w) for x, y, w in triples]


@given(reals, reals, fractions)
def test_lerp_is_exact_at_the_ends_and_stays_between(a, b, t):
    assert lerp(a, b, 0.0) == a and lerp(a, b, 1.0) == b
    assert min(a, b) <= lerp(a, b, t) <= max(a, b)
