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
    of any kind (non-empty answer text or reasoning text). ``output_tokens`` comes from the server's
    ``usage`` or, failing that, from tokenizing the whole text once; it is never the number of SSE
    events (-1 = unknown). ``first_reasoning_ns`` / ``first_answer_ns`` are the first events with
    reasoning (``delta.reasoning`` / ``reasoning_content``) and answer text (-1: none came);
    ``reasoning_tokens`` (``usage.completion_tokens_details.reasoning_tokens``) and ``cached_tokens``
    (``usage.prompt_tokens_details.cached_tokens``) are the server's counts, -1 where it sent none.
    ``session`` / ``turn`` place a conversation's request (session index, 1-based turn; -1 / 0
    outside conversations).
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
    first_reasoning_ns: int = -1
    first_answer_ns: int = -1
    reasoning_tokens: int = UNKNOWN_TOKENS
    cached_tokens: int = UNKNOWN_TOKENS
    session: int = -1
    turn: int = 0

    @property
    def ttft_ns(self) -> int | None:
        """Time to first token: first token event - sent; None when no token arrived."""
        return self.token_times_ns[0] - self.sent_ns if self.token_times_ns else None

    @property
    def e2e_ns(self) -> int | None:
        """End-to-end latency: last token event - sent; None when no token arrived."""
        return self.token_times_ns[-1] - self.sent_ns if self.token_times_ns else None

    @property
    def reasoning_ttft_ns(self) -> int | None:
        """Time to the first reasoning token: its event - sent; None when no reasoning came."""
        return self.first_reasoning_ns - self.sent_ns if self.first_reasoning_ns >= 0 else None

    @property
    def answer_ttft_ns(self) -> int | None:
        """Time to the first answer (content) token: its event - sent; None when no answer came."""
        return self.first_answer_ns - self.sent_ns if self.first_answer_ns >= 0 else None

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
