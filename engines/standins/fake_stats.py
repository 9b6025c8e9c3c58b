"""The fake OpenAI server's server-side truth (:mod:`engines.standins.fake_openai_server`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Server-side truth, one entry per streamed request (columns, in arrival order)."""

    arrival_ns: list[int] = field(default_factory=list)
    first_token_ns: list[int] = field(default_factory=list)
    end_ns: list[int] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    lag_ns: list[int] = field(default_factory=list)  # timer lateness of every token event
    stalls: list[tuple[int, int]] = field(default_factory=list)  # (due, woke) of late loop wake-ups
    connections: int = 0  # TCP connections accepted

    def as_json(self) -> bytes:
        lags = sorted(self.lag_ns)
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] / 1e3 if lags else 0.0
        cpu = os.times()
        return json.dumps(
            {
                "arrival_ns": self.arrival_ns,
                "first_token_ns": self.first_token_ns,
                "end_ns": self.end_ns,
                "tag": self.tag,
                "lag_p99_us": p99,
                "lag_max_us": lags[-1] / 1e3 if lags else 0.0,
                "stalls": [list(x) for x in self.stalls],
                "cpu_s": cpu.user + cpu.system,
                "connections": self.connections,
            }
        ).encode()
