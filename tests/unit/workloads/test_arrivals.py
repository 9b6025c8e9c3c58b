"""Arrival schedules: seeded reproducibility, mean rates, burstiness effect on the CV."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workloads.arrivals import arrival_offsets, inter_arrivals, scheduled_ns


@pytest.mark.parametrize("kind", ["constant", "poisson", "gamma", "max_throughput"])
def test_same_seed_same_schedule_bit_for_bit(kind: str) -> None:
    a = arrival_offsets(kind, 500, 7.0, np.random.default_rng(42), burstiness=0.3)
    b = arrival_offsets(kind, 500, 7.0, np.random.default_rng(42), burstiness=0.3)
    assert a.tobytes() == b.tobytes()
    assert a[0] == 0.0 and np.all(np.diff(a) >= 0)


def test_different_seed_different_schedule() -> None:
    a = arrival_offsets("poisson", 100, 5.0, np.random.default_rng(1))
    b = arrival_offsets("poisson", 100, 5.0, np.random.default_rng(2))
    assert not np.array_equal(a, b)


def test_constant_is_exact() -> None:
    offsets = arrival_offsets("constant", 5, 4.0, np.random.default_rng(0))
    assert offsets.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [scheduled_ns(1_000, o) for o in offsets] == [
        1_000,
        250_001_000,
        500_001_000,
        750_001_000,
        1_000_001_000,
    ]


def test_max_throughput_all_at_once() -> None:
    assert arrival_offsets("max_throughput", 4, math.inf, np.random.default_rng(0)).tolist() == [0.0] * 4
    assert arrival_offsets("poisson", 3, math.inf, np.random.default_rng(0)).tolist() == [0.0] * 3


@pytest.mark.parametrize(("kind", "burstiness"), [("poisson", 1.0), ("gamma", 0.25), ("gamma", 4.0)])
def test_mean_rate_within_tolerance(kind: str, burstiness: float) -> None:
    gaps = inter_arrivals(kind, 200_000, 20.0, np.random.default_rng(3), burstiness)
    assert 1.0 / gaps.mean() == pytest.approx(20.0, rel=0.02)


def test_burstiness_sets_the_coefficient_of_variation() -> None:
    """CV of gamma gaps = 1/sqrt(shape): bursty (0.25) → 2, Poisson → 1, smooth (4) → 0.5."""
    cvs = {}
    for b in (0.25, 1.0, 4.0):
        gaps = inter_arrivals("gamma", 200_000, 10.0, np.random.default_rng(5), b)
        cvs[b] = gaps.std() / gaps.mean()
        assert cvs[b] == pytest.approx(1 / math.sqrt(b), rel=0.03)
    assert cvs[0.25] > cvs[1.0] > cvs[4.0]
    poisson = inter_arrivals("poisson", 1000, 10.0, np.random.default_rng(5))
    assert np.array_equal(poisson, inter_arrivals("gamma", 1000, 10.0, np.random.default_rng(5), 1.0))


@pytest.mark.parametrize(
    ("kind", "rate", "burstiness", "needle"),
    [("poisson", 0.0, 1.0, "workload.rate"), ("constant", -1.0, 1.0, "workload.rate"),
     ("gamma", 1.0, 0.0, "workload.burstiness"), ("zipf", 1.0, 1.0, "workload.name")],
)  # fmt: skip
def test_bad_parameters_name_the_field(kind: str, rate: float, burstiness: float, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        inter_arrivals(kind, 3, rate, np.random.default_rng(0), burstiness)
