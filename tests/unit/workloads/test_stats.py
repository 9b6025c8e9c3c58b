"""Repeat statistics with fixed seeds and known data: bootstrap CIs, ratio CIs, the permutation
test, the drift measure and the interleaved order of repeats."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from workloads.stats import (
    Interval,
    bootstrap_ci,
    coefficient_of_variation,
    interleave,
    permutation_p_value,
    ratio_ci,
)


def test_bootstrap_ci_covers_the_mean_and_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(100, 10, 5)
    large = rng.normal(100, 10, 200)
    a, b = bootstrap_ci(small), bootstrap_ci(large)
    assert a.low <= a.value <= a.high and a.value == pytest.approx(small.mean())
    assert b.half_width < a.half_width
    assert 1.0 < b.half_width < 2.0  # ≈ 1.96 · 10/√200 = 1.39
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)  # deterministic per seed


def test_degenerate_samples() -> None:
    one = bootstrap_ci([7.0])
    assert (one.value, one.low, one.high, one.n) == (7.0, 7.0, 7.0, 1) and one.text() == "7"
    assert math.isnan(bootstrap_ci([]).value) and bootstrap_ci([]).n == 0
    assert bootstrap_ci([1.0, math.nan, 3.0]).n == 2  # non-finite values dropped
    same = bootstrap_ci([5.0, 5.0, 5.0])
    assert same.half_width == 0 and same.text() == "5 ± 0"
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=1.5)


def test_interval_text_and_excludes() -> None:
    iv = Interval(1.4, 1.3, 1.5, 0.95, 3)
    assert iv.text(".2f") == "1.40 ± 0.10" and iv.excludes(1.0) and not iv.excludes(1.45)


def test_ratio_ci_says_when_two_configurations_differ() -> None:
    rng = np.random.default_rng(2)
    fast, slow = rng.normal(140, 3, 6), rng.normal(100, 3, 6)
    r = ratio_ci(fast, slow)
    assert r.value == pytest.approx(fast.mean() / slow.mean()) and r.excludes(1.0)
    assert 1.3 < r.low < r.value < r.high < 1.5
    alike = ratio_ci(rng.normal(100, 10, 4), rng.normal(100, 10, 4))
    assert not alike.excludes(1.0)
    assert math.isnan(ratio_ci([1.0], [0.0]).value)


def test_permutation_p_value_exact_and_sampled() -> None:
    # exact: 3 vs 3 has C(6,3) = 20 labellings; the observed (most extreme) and its mirror → 2/20
    assert permutation_p_value([1, 2, 3], [10, 11, 12]) == pytest.approx(0.1)
    assert permutation_p_value([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 30), rng.normal(2, 1, 30)
    p = permutation_p_value(a, b, resamples=2000, seed=1)
    assert 0 < p < 0.01 and p == permutation_p_value(a, b, resamples=2000, seed=1)
    assert permutation_p_value(rng.normal(0, 1, 30), rng.normal(0, 1, 30), resamples=2000) > 0.01
    assert math.isnan(permutation_p_value([], [1.0]))


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([10.0, 10.0, 10.0]) == 0
    assert coefficient_of_variation([9.0, 11.0]) == pytest.approx(math.sqrt(2) / 10)
    assert math.isnan(coefficient_of_variation([3.0]))


@pytest.mark.parametrize("n_keys,repeats", [(1, 3), (2, 5), (4, 3), (7, 4)])
def test_interleave_is_a_seeded_permutation_without_adjacent_repeats(n_keys: int, repeats: int) -> None:
    keys = [f"t{i}" for i in range(n_keys)]
    order = interleave(keys, repeats, seed=11)
    assert sorted(order) == sorted((k, r) for k in keys for r in range(repeats))
    assert order == interleave(keys, repeats, seed=11) and Counter(k for k, _ in order) == dict.fromkeys(
        keys, repeats
    )
    if n_keys > 1:
        assert all(a[0] != b[0] for a, b in itertools.pairwise(order))
        assert interleave(keys, repeats, seed=12) != order or n_keys == 2
    for k in keys:  # a key's repeats run in repeat order
        assert [r for kk, r in order if kk == k] == list(range(repeats))
    with pytest.raises(ValueError, match="repeats"):
        interleave(keys, 0)


def test_ratio_text_and_significance() -> None:
    from workloads.stats import Interval, ratio_text, significant

    assert ratio_text(Interval(1.5, 1.5, 1.5, 0.95, 1)) == "1.500"  # one sample each: the plain ratio
    differ = Interval(1.5, 1.2, 1.8, 0.95, 3)
    assert significant(differ) and ratio_text(differ) == "1.500 ± 0.300"
    same = Interval(1.02, 0.95, 1.10, 0.95, 3)
    assert not significant(same) and ratio_text(same) == "1.020 ± 0.075 (n.s.)"
    assert ratio_text(Interval(float("nan"), float("nan"), float("nan"), 0.95, 0)) == "-"
