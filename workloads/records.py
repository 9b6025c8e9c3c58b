"""Per-request records: what the workload driver measures, and nothing computed from it.

All times are client-side ``time.perf_counter_ns()`` values (or an injected clock in tests).
Aggregation lives in :mod:`workloads.metrics`; this module holds only per-request facts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

ERROR_KINDS: tuple[str, ...] = ("connect", "http", "timeout", "truncated", "protocol")
"""Every value ``RequestRecord.error_kind`` may take (besides ``None``)."""

UNKNOWN_TOKENS = -1
"""Token count meaning "unknown": the server sent no usage and no tokenizer was given."""


@dataclass
class RequestRecord:
    """One request as the client saw it.

    ``token_times_ns`` holds the arrival time of every SSE event that carried at least one token
    (non-empty text). ``output_tokens`` comes from the server's ``usage`` or, failing that, from
    tokenizing the whole text once; it is never the number of SSE events (-1 = unknown).
    """

    request_id: int
    scheduled_ns: int
    sent_ns: int
    end_ns: int
    token_times_ns: list[int]
    input_tokens: int
    output_tokens: int
    ok: bool
    error_kind: str | None = None
    error: str | None = None
    warmup: bool = False
    output_text: str = ""
    step: int = 0  # multi-step strategies: rate-sweep step, SLA probe or static-batch run index

    @property
    def ttft_ns(self) -> int | None:
        """Time to first token: first token event - sent; None when no token arrived."""
        return self.token_times_ns[0] - self.sent_ns if self.token_times_ns else None

    @property
    def e2e_ns(self) -> int | None:
        """End-to-end latency: last token event - sent; None when no token arrived."""
        return self.token_times_ns[-1] - self.sent_ns if self.token_times_ns else None

    @property
    def itl_ns(self) -> list[int]:
        """Inter-token latencies: gaps between consecutive token events (sum == e2e - ttft)."""
        times = self.token_times_ns
        return [b - a for a, b in pairwise(times)]

    @property
    def send_delay_ns(self) -> int:
        """How late the request left compared with when the strategy wanted it sent."""
        return self.sent_ns - self.scheduled_ns

    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON/parquet-friendly dict of the fields; ``RequestRecord(**d)`` rebuilds it."""
        return asdict(self)
