"""Constraints (when to stop), kept apart from strategies (when to send) and clients (how).

A :class:`StopTracker` is fed every finished record and asked, before each send, whether to go on.
Warmup requests count toward errors (a failing server fails warmups too) but never toward metrics,
which :func:`workloads.metrics.summarize` excludes on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from workloads.records import RequestRecord

MIN_FOR_ERROR_RATE = 10
"""Finished requests needed before ``abort_error_rate`` may stop a run (one early error is noise)."""


class StopSignal(Protocol):
    """Set from outside the run (e.g. the engine died); read before every send, so it must be cheap."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Constraints:
    """Limits of one run; ``None`` disables a limit.

    ``max_requests``: requests to send (warmups included). ``duration_s``: stop sending this long
    after the first send. ``max_errors``: stop once this many requests failed. ``abort_error_rate``:
    stop once failed / finished exceeds it (after :data:`MIN_FOR_ERROR_RATE` finished).
    ``stop``: an outside signal (the engine died, :class:`engines.liveness.EngineWatch`); once set,
    nothing more is sent and the reason is ``engine_stopped``.
    """

    max_requests: int | None = None
    duration_s: float | None = None
    max_errors: int | None = None
    abort_error_rate: float | None = None
    stop: StopSignal | None = None


ENGINE_STOPPED = "engine_stopped"


@dataclass
class StopTracker:
    """Mutable run state against :class:`Constraints`; ``reason`` says why sending stopped."""

    limits: Constraints
    start_ns: int | None = None
    sent: int = 0
    finished: int = 0
    errors: int = 0
    reason: str = field(default="")

    def on_send(self, now_ns: int) -> None:
        if self.start_ns is None:
            self.start_ns = now_ns
        self.sent += 1

    def on_record(self, record: RequestRecord) -> None:
        self.finished += 1
        self.errors += not record.ok

    def stop_reason(self, now_ns: int) -> str:
        """Why the next request must not be sent ("" = go on); remembered in ``reason``."""
        lim = self.limits
        if self.reason:
            return self.reason
        if lim.stop is not None and lim.stop.is_set():
            self.reason = ENGINE_STOPPED
        elif lim.max_requests is not None and self.sent >= lim.max_requests:
            self.reason = "max_requests"
        elif (
            lim.duration_s is not None
            and self.start_ns is not None
            and now_ns - self.start_ns >= lim.duration_s * 1e9
        ):
            self.reason = "duration"
        elif lim.max_errors is not None and self.errors >= lim.max_errors:
            self.reason = "max_errors"
        elif (
            lim.abort_error_rate is not None
            and self.finished >= MIN_FOR_ERROR_RATE
            and self.errors / self.finished > lim.abort_error_rate
        ):
            self.reason = "max_error_rate"
        return self.reason

    def deadline_ns(self) -> int | None:
        """Client-clock time at which ``duration_s`` runs out (None without a duration or a start)."""
        if self.limits.duration_s is None or self.start_ns is None:
            return None
        return self.start_ns + round(self.limits.duration_s * 1e9)
