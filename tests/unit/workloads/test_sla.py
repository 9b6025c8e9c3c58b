"""SLA search by bisection on a synthetic latency model, SLO checks, and sweep rates."""

from __future__ import annotations

import math

import pytest

from workloads.metrics import Summary
from workloads.sla import meets_slos, sla_search, sweep_rates

CAPACITY = 10.0  # req/s


def model(rate: float) -> Summary:
    """Queueing-like model: p99 TTFT = 50 / (capacity - rate) ms; past capacity nothing is valid."""
    if rate >= CAPACITY:
        return {"valid": False, "num_ok": 5, "ttft_p99_ms": 1e9, "tpot_p99_ms": 1e9, "e2e_p99_ms": 1e9}
    ttft = 50.0 / (CAPACITY - rate)
    return {"valid": True, "num_ok": 100, "ttft_p99_ms": ttft, "tpot_p99_ms": 5.0, "e2e_p99_ms": ttft + 100}


def test_bisection_finds_the_highest_passing_rate() -> None:
    best, probes = sla_search(model, {"ttft_ms": 25.0}, 0.5, 10.0, iterations=30, rel_tol=0.0)
    assert best is not None and best == pytest.approx(8.0, abs=1e-6) and best <= 8.0
    assert [p.rate for p in probes[:3]] == [10.0, 0.5, 5.25]
    assert [p.passed for p in probes[:3]] == [False, True, True]
    assert all(p.passed == (p.rate <= 8.0) for p in probes)
    assert len(probes) == 32  # max, min, 30 bisections


def test_tolerance_and_iterations_bound_the_probes() -> None:
    best, probes = sla_search(model, {"ttft_ms": 25.0}, 0.5, 10.0, iterations=3, rel_tol=0.0)
    assert len(probes) == 5 and best is not None and best <= 8.0
    best, probes = sla_search(model, {"ttft_ms": 25.0}, 0.5, 10.0, iterations=100, rel_tol=0.05)
    assert best is not None and 8.0 * 0.95 <= best <= 8.0 and len(probes) < 15


def test_max_passing_and_nothing_passing() -> None:
    best, probes = sla_search(model, {"tpot_ms": 6.0}, 1.0, 9.0, iterations=5)
    assert best == 9.0 and len(probes) == 1
    best, probes = sla_search(model, {"ttft_ms": 1.0}, 1.0, 9.0, iterations=5)
    assert best is None and [p.rate for p in probes] == [9.0, 1.0]


def test_slo_checks() -> None:
    ok = model(2.0)
    assert meets_slos(ok, {"ttft_ms": 7.0, "tpot_ms": 5.0, "e2e_ms": 107.0})
    assert not meets_slos(ok, {"e2e_ms": 100.0})
    assert not meets_slos({**ok, "valid": False}, {"ttft_ms": 1e9})
    assert not meets_slos({**ok, "num_ok": 0}, {"ttft_ms": 1e9})
    assert meets_slos({**ok, "tpot_p99_ms": math.nan}, {"tpot_ms": 1.0})  # 1-token outputs
    assert not meets_slos({**ok, "ttft_p99_ms": math.nan}, {"ttft_ms": 1.0})
    with pytest.raises(ValueError, match="ttft"):
        meets_slos(ok, {"ttft": 1.0})
    with pytest.raises(ValueError, match=r"workload\.slo"):
        sla_search(model, {}, 1.0, 2.0, iterations=1)


def test_sweep_rates() -> None:
    assert sweep_rates("linear", 1.0, 9.0, 5) == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert sweep_rates("geometric", 1.0, 16.0, 5) == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])
    assert sweep_rates("linear", 5.0, 3.0, 4) == [5.0]
    assert sweep_rates("geometric", 1.0, 3.0, 1) == [3.0]
    with pytest.raises(ValueError, match="min_rate"):
        sweep_rates("linear", 0.0, 3.0, 2)
