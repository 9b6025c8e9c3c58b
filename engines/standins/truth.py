"""Pure functions comparing a load generator's view with the fake server's recorded truth.

Clocks: the server and the clients all use ``time.perf_counter_ns()`` (CLOCK_MONOTONIC) on one
machine, so their nanosecond stamps are directly comparable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def derived_send_delays_ns(arrivals_ns: Sequence[int], rate: float) -> list[int]:
    """Send delay of a constant-rate run, derived from the server's arrival times alone.

    The intended schedule is ``t0 + i / rate`` for the i-th request in arrival order; ``t0`` is
    unknown to the server, so it is fitted as ``min_i(arrival_i - i / rate)``: the least-late request
    gets delay 0 and every other delay is relative to it (a constant offset such as the loopback
    transit time cancels). A tool that falls behind shows growing delays; one that sends in bursts
    shows per-request jitter.
    """
    if not arrivals_ns:
        return []
    arr = np.sort(np.asarray(arrivals_ns, dtype=np.float64))
    ideal = np.arange(arr.size, dtype=np.float64) * (1e9 / rate)
    offset = arr - ideal
    return [int(x) for x in offset - offset.min()]


def pct(values: Sequence[float], q: float) -> float:
    """Percentile (numpy linear); NaN for no values."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else math.nan


@dataclass(frozen=True)
class ServerTruth:
    """The fake server's ``/stats`` columns (finished streams only)."""

    arrival_ns: list[int]
    first_token_ns: list[int]
    tag: list[str]

    @classmethod
    def from_stats(cls, stats: dict[str, object]) -> ServerTruth:
        cols = [stats["arrival_ns"], stats["first_token_ns"], stats["tag"]]
        rows = [r for r in zip(*cols, strict=True) if r[1]]  # type: ignore[call-overload]
        return cls([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    @property
    def server_ttft_ns(self) -> list[int]:
        """First token sent - request arrived, per request."""
        return [f - a for a, f in zip(self.arrival_ns, self.first_token_ns, strict=True)]


def paired_ttft_errors_ns(client_ttft_by_tag: dict[str, int], truth: ServerTruth) -> list[int]:
    """Client TTFT - server TTFT for every request whose prompt tag the client knows."""
    return [
        client_ttft_by_tag[tag] - s
        for tag, s in zip(truth.tag, truth.server_ttft_ns, strict=True)
        if tag in client_ttft_by_tag
    ]


def median_ttft_error_ms(client_ttfts_ms: Sequence[float], truth: ServerTruth) -> float:
    """p50(client TTFT) - p50(server TTFT), in ms: the method for tools that cannot be paired."""
    return pct(client_ttfts_ms, 50) - pct(truth.server_ttft_ns, 50) / 1e6


def in_stalls(
    arrivals_ns: Sequence[int], stalls: Sequence[Sequence[int]], slack_ns: int = 100_000
) -> list[bool]:
    """Per arrival, whether it was stamped during a server stall (``[due, woke]``, plus ``slack_ns``
    after it): its lateness may be the server's, not the client's."""
    spans = sorted((int(a), int(b) + slack_ns) for a, b in stalls)
    return [any(a <= t <= b for a, b in spans) for t in arrivals_ns]
