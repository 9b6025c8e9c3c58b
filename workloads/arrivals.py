"""Arrival schedules (when to send), precomputed from an explicit seeded ``numpy.random.Generator``.

A schedule is an array of send offsets in seconds from the start of the run, non-decreasing, first
at 0. The same generator seed gives the same schedule, bit for bit. Inter-arrival times:

* ``constant``: exactly ``1 / rate`` apart.
* ``poisson``: exponential with mean ``1 / rate`` (gamma with burstiness 1).
* ``gamma``: gamma with shape ``burstiness`` and mean ``1 / rate`` (scale ``1 / (rate * burstiness)``),
  as ``vllm bench serve`` does: burstiness < 1 is burstier (CV = 1/sqrt(burstiness)), > 1 smoother.
* ``max_throughput`` (``rate = inf``): everything at offset 0.
"""

from __future__ import annotations

import math

import numpy as np

ARRIVALS: tuple[str, ...] = ("constant", "poisson", "gamma", "max_throughput")


def inter_arrivals(
    kind: str, n: int, rate: float, rng: np.random.Generator, burstiness: float = 1.0
) -> np.ndarray:
    """``n`` gaps in seconds between consecutive sends (the first gap precedes request 1)."""
    if kind not in ARRIVALS:
        raise ValueError(f"workload.name={kind!r} is not an arrival process; allowed: {', '.join(ARRIVALS)}")
    if n < 0:
        raise ValueError(f"number of requests must be >= 0, got {n}")
    if kind == "max_throughput" or math.isinf(rate):
        return np.zeros(n)
    if not rate > 0:
        raise ValueError(f"workload.rate must be > 0, got {rate}")
    if kind == "constant":
        return np.full(n, 1.0 / rate)
    shape = 1.0 if kind == "poisson" else burstiness
    if not shape > 0:
        raise ValueError(f"workload.burstiness must be > 0, got {burstiness}")
    return rng.gamma(shape, 1.0 / (rate * shape), size=n)


def arrival_offsets(
    kind: str, n: int, rate: float, rng: np.random.Generator, burstiness: float = 1.0
) -> np.ndarray:
    """Send offsets (s) of ``n`` requests: first at 0, then the cumulative gaps."""
    gaps = inter_arrivals(kind, n, rate, rng, burstiness)
    if n == 0:
        return gaps
    return np.concatenate(([0.0], np.cumsum(gaps[: n - 1])))


def scheduled_ns(start_ns: int, offset_s: float) -> int:
    """The absolute send time on the client clock of a request ``offset_s`` after ``start_ns``."""
    return start_ns + round(float(offset_s) * 1e9)
