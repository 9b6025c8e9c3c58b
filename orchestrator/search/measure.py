"""What one round told about a candidate (pure): read from its trial's stored ``result.json``.

Definitions (docs/search.md#definitions), at the highest probed rate whose p99s met the SLOs
(``sla_max_rate``, the SLA search's answer):

- goodput: output tokens/s measured there (the probe's ``output_token_throughput``); per GPU:
  divided by the candidate's TP, the GPUs one replica holds;
- goodput per GPU-hour: tokens one GPU yields in an hour of a replica that serves for
  ``search.replica_lifetime_s`` after its start-up: goodput/GPU × 3600 × L / (start-up + L);
- interactivity: output tokens/s one user sees, 1000 / the probe's median TPOT in ms;
- the upper bound: the rate the candidate cannot exceed by what was probed, the lowest failing
  probe above the answer or else the measured maximum throughput, times the output tokens per
  request; what :func:`orchestrator.search.policy.dominated` compares a measured candidate with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config.search import Objective
from orchestrator.core.status import FailureReason, Status

RETRIED = (FailureReason.INTERRUPTED, FailureReason.NODE_LOST)
"""Failures that say nothing about the candidate: a rerun of the search measures it again."""


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(float(value)) else None


@dataclass(frozen=True)
class Measurement:
    """One candidate's trial of one round."""

    cid: str
    round: int
    trial_id: str
    tp: int
    status: Status
    reason: str | None = None
    message: str = ""
    rate: float | None = None  # req/s, the highest probed rate meeting the SLOs (None: none did)
    rate_upper: float | None = None  # req/s, the bound above it (see the module docstring)
    tokens_per_request: float = 0.0
    goodput: float = 0.0  # output tok/s at ``rate`` (0 when no rate met the SLOs)
    p99_ms: dict[str, float] = field(default_factory=dict)  # ttft_ms/tpot_ms/e2e_ms p99 at ``rate``
    tpot_p50_ms: float | None = None
    startup_s: float | None = None
    held_gpu_s: float | None = None  # GPU-seconds the trial held (start-up included)
    measured_s: float = 0.0  # the trial's own time (all its probes)

    @property
    def ok(self) -> bool:
        """DONE with a rate that met the SLOs."""
        return self.status == Status.DONE and self.rate is not None

    @property
    def retried(self) -> bool:
        return self.status == Status.FAILED and self.reason in RETRIED

    @property
    def goodput_per_gpu(self) -> float:
        return self.goodput / self.tp

    @property
    def upper_per_gpu(self) -> float:
        """Goodput/GPU at ``rate_upper``: what no more probing could show it to exceed."""
        rate = self.rate_upper if self.rate_upper is not None else self.rate or 0.0
        return max(rate * self.tokens_per_request, self.goodput) / self.tp

    @property
    def interactivity(self) -> float | None:
        """Output tokens/s per user at ``rate``: 1000 / median TPOT (ms)."""
        t = self.tpot_p50_ms
        return 1000.0 / t if t is not None and t > 0 else None

    def per_gpu_hour(self, per_gpu: float, lifetime_s: float) -> float:
        """Tokens per GPU-hour of a replica serving ``lifetime_s`` after a start-up like this one's."""
        startup = self.startup_s or 0.0
        return per_gpu * 3600.0 * lifetime_s / (startup + lifetime_s)

    def score(self, objective: Objective | str, lifetime_s: float) -> float:
        """The objective's value (0 when no rate met the SLOs)."""
        if objective == Objective.GOODPUT_PER_GPU_HOUR:
            return self.per_gpu_hour(self.goodput_per_gpu, lifetime_s)
        return self.goodput_per_gpu

    def upper(self, objective: Objective | str, lifetime_s: float) -> float:
        """The objective at the upper bound."""
        if objective == Objective.GOODPUT_PER_GPU_HOUR:
            return self.per_gpu_hour(self.upper_per_gpu, lifetime_s)
        return self.upper_per_gpu


def rate_bound(steps: list[Mapping[str, Any]], rate: float | None) -> float | None:
    """The lowest failing probed rate above ``rate``, else the measured maximum throughput."""
    failing = [float(s["offered_rate"]) for s in steps if s.get("slo_passed") == 0.0]
    above = [f for f in failing if rate is None or f > rate]
    peak = [_num(s.get("request_throughput")) for s in steps if s.get("offered_rate") == math.inf]
    bounds = above + [p for p in peak if p is not None and (rate is None or p >= rate)]
    if not bounds:
        return rate
    return max(min(bounds), rate or 0.0)


def from_result(result: Mapping[str, Any], cid: str, rnd: int, output_len: int) -> Measurement:
    """The measurement a stored ``result.json`` holds (``output_len``: the tokens asked per request)."""
    metrics = result.get("metrics") or {}
    info = result.get("engine_info") or {}
    status = Status(result["status"])
    rate = _num(metrics.get("sla_max_rate")) if status == Status.DONE else None
    if rate is not None and rate <= 0:
        rate = None
    ok = _num(metrics.get("num_ok")) or 0.0
    tokens = _num(metrics.get("total_output_tokens"))
    per_request = tokens / ok if tokens is not None and ok else float(output_len)
    p99 = {
        k: v
        for k in ("ttft_ms", "tpot_ms", "e2e_ms")
        if (v := _num(metrics.get(f"{k[:-3]}_p99_ms"))) is not None
    }
    return Measurement(
        cid=cid,
        round=rnd,
        trial_id=str(result["trial_id"]),
        tp=int(result.get("tp") or 1),
        status=status,
        reason=result.get("reason"),
        message=str(result.get("message") or ""),
        rate=rate,
        rate_upper=rate_bound(list(result.get("steps") or []), rate) if status == Status.DONE else None,
        tokens_per_request=per_request,
        goodput=(_num(metrics.get("output_token_throughput")) or 0.0) if rate is not None else 0.0,
        p99_ms=p99 if rate is not None else {},
        tpot_p50_ms=_num(metrics.get("tpot_p50_ms")) if rate is not None else None,
        startup_s=_num(info.get("startup_s")),
        held_gpu_s=_num(metrics.get("gpu_seconds_held")),
        measured_s=max(0.0, float(result.get("ended_at") or 0) - float(result.get("started_at") or 0)),
    )
