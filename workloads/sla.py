"""Rate sweeps and the SLA search: which offered rates to probe, and which probe passed.

Pure functions: the probe itself (running a load at a rate) is a callable given by the caller,
so the search is tested against a synthetic latency model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from workloads.metrics import SLO_KEYS, Summary

SLO_PERCENTILE = "p99"


def sweep_rates(kind: str, min_rate: float, max_rate: float, num: int) -> list[float]:
    """``num`` rates from ``min_rate`` to ``max_rate``: evenly (linear) or by a constant ratio."""
    if kind not in ("linear", "geometric"):
        raise ValueError(f"workload.sweep.kind={kind!r} is not linear or geometric")
    if num < 1:
        raise ValueError(f"workload.sweep.num_rates must be >= 1, got {num}")
    if not min_rate > 0:
        raise ValueError(f"workload.sweep.min_rate must be > 0, got {min_rate}")
    if max_rate <= min_rate:  # the measured maximum is below the floor: probe the floor only
        return [float(min_rate)]
    if num == 1:
        return [float(max_rate)]
    space = np.linspace if kind == "linear" else np.geomspace
    return [float(r) for r in space(min_rate, max_rate, num)]


def meets_slos(summary: Mapping[str, float | int | bool], slo: Mapping[str, float]) -> bool:
    """True when the probe is valid, has successes, and every SLO's p99 is within its limit.

    An undefined TPOT p99 (every output was 1 token) passes the TPOT SLO; any other NaN fails.
    """
    if not summary.get("valid", False) or not summary.get("num_ok", 0):
        return False
    for key, limit in slo.items():
        if key not in SLO_KEYS:
            raise ValueError(f"unknown SLO key {key!r}; allowed keys: {', '.join(SLO_KEYS)}")
        value = float(summary[f"{key.removesuffix('_ms')}_{SLO_PERCENTILE}_ms"])
        if math.isnan(value):
            if key != "tpot_ms":
                return False
        elif value > limit:
            return False
    return True


@dataclass(frozen=True)
class Probe:
    """One SLA-search probe: the offered rate, its metrics, and whether it met the SLOs."""

    rate: float
    metrics: Summary
    passed: bool


def sla_search(
    probe: Callable[[float], Summary],
    slo: Mapping[str, float],
    min_rate: float,
    max_rate: float,
    *,
    iterations: int,
    rel_tol: float = 0.0,
) -> tuple[float | None, list[Probe]]:
    """Highest rate in [min_rate, max_rate] whose probe meets every SLO, by bisection.

    Probes ``max_rate`` (done if it passes), then ``min_rate`` (none passes if it fails), then
    bisects the pass/fail interval at most ``iterations`` times, stopping early once it is narrower
    than ``rel_tol`` × the passing rate. Returns the best passing rate (None if none) and every
    probe in order.
    """
    if not slo:
        raise ValueError("workload.slo: the SLA search needs at least one SLO")
    if not 0 < min_rate <= max_rate:
        raise ValueError(f"need 0 < workload.sla.min_rate <= max rate, got {min_rate} and {max_rate}")
    probes: list[Probe] = []

    def run(rate: float) -> bool:
        metrics = probe(rate)
        probes.append(Probe(rate, metrics, meets_slos(metrics, slo)))
        return probes[-1].passed

    if run(max_rate):
        return max_rate, probes
    if min_rate == max_rate or not run(min_rate):
        return None, probes
    lo, hi = min_rate, max_rate
    for _ in range(iterations):
        if hi - lo <= rel_tol * lo:
            break
        mid = (lo + hi) / 2
        if run(mid):
            lo = mid
        else:
            hi = mid
    return lo, probes
