"""What an engine instance is doing right now, for the driver's live view.

The runner enters a phase (``loading model``, ``starting engine``, ``measuring``, ``running``) and
the actor's ``progress()`` call, served on its second concurrency slot while ``start()`` or
``run_point()`` holds the first, returns a :meth:`Progress.snapshot`: the phase, seconds in it,
its timeout, the engine log's last line and, while measuring, the requests sent so far. Sends are
counted by :class:`SendCounter`, the stop signal the workload reads once before each send
(:class:`workloads.constraints.StopSignal`), so the load generator needs no hook of its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.core.load import RATE_STRATEGIES, LoadSpec, Strategy

LAST_LINE_BYTES = 4096
MAX_LINE_CHARS = 160


class _Signal(Protocol):
    def is_set(self) -> bool: ...


class SendCounter:
    """A stop signal that counts how often it is read: once per send in every open or closed loop."""

    def __init__(self, inner: _Signal) -> None:
        self.inner = inner
        self.reads = 0

    def is_set(self) -> bool:
        self.reads += 1  # an int += under the GIL: a snapshot may lag by one, never tear
        return self.inner.is_set()


def sent_total(point: LoadSpec) -> int | None:
    """Measured requests a one-step point sends (warmups apart); None for steps or batches."""
    one_step = (Strategy.CONCURRENCY, Strategy.MAX_THROUGHPUT, *RATE_STRATEGIES)
    return point.num_requests if point.name in one_step else None


def last_line(path: Path | None) -> str:
    """The last non-empty line of a log file ('' when there is none), cut to a screen line."""
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - LAST_LINE_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:MAX_LINE_CHARS] if lines else ""


@dataclass
class Progress:
    phase: str = ""
    since: float = 0.0  # time.monotonic() at entering the phase
    timeout_s: float | None = None
    log_path: Path | None = None
    total: int | None = None  # requests the point sends (None: not known in advance)
    sends: SendCounter | None = None
    _rate_mark: tuple[float, int] = (0.0, 0)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def enter(
        self,
        phase: str,
        timeout_s: float | None = None,
        log_path: Path | None = None,
        total: int | None = None,
        sends: SendCounter | None = None,
    ) -> None:
        with self._lock:
            self.phase, self.since, self.timeout_s = phase, time.monotonic(), timeout_s
            self.log_path, self.total, self.sends = log_path, total, sends
            self._rate_mark = (self.since, 0)

    def snapshot(self) -> dict[str, Any]:
        """Plain values only (it crosses Ray): phase, elapsed_s, timeout_s, log, sent, total, rate."""
        with self._lock:
            now = time.monotonic()
            out: dict[str, Any] = {"phase": self.phase, "elapsed_s": round(now - self.since, 1)}
            if self.timeout_s is not None:
                out["timeout_s"] = self.timeout_s
            if self.sends is not None:
                sent = self.sends.reads
                t0, n0 = self._rate_mark
                if now - t0 > 0.2:
                    out["rate"] = round((sent - n0) / (now - t0), 2)
                    self._rate_mark = (now, sent)
                out["sent"] = sent if self.total is None else min(sent, self.total)
                if self.total is not None:
                    out["total"] = self.total
            log_path = self.log_path
        if line := last_line(log_path):
            out["log"] = line
        return out
