"""Typed results: what a trial produced, and what an engine actor answers when it starts an engine.

:meth:`TrialResult.to_dict` / :meth:`TrialResult.from_dict` are the ``result.json`` form the
results store writes and reads (the store adds the trial's identity and redacts secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.status import FailureReason, Status
from orchestrator.core.validity import Flag


@dataclass
class TrialResult:
    """What a trial produced: a status, a failure reason when FAILED, and its metrics."""

    trial_id: str
    status: Status
    reason: FailureReason | None = None
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    engine_log: str = ""
    engine_info: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    ended_at: float = 0.0
    steps: list[dict[str, float]] = field(default_factory=list)  # rate-sweep steps / SLA probes
    flags: list[Flag] = field(default_factory=list)  # validity checks it failed (core.validity)
    # the node during the measurement: other instances measuring there, CPU load (execution.accounting)
    co_tenancy: dict[str, Any] = field(default_factory=dict)

    def add_engine_info(self, base: Mapping[str, Any], **extra: Any) -> None:
        """The engine info of the instance that ran the trial under this result's own (and ``extra``
        over both): the one place a result's engine info is merged."""
        self.engine_info = {**base, **self.engine_info, **extra}

    def to_dict(self) -> dict[str, Any]:
        """The ``result.json`` fields (the records and the engine log are stored beside it)."""
        out = {
            "trial_id": self.trial_id,
            "status": str(self.status),
            "reason": str(self.reason) if self.reason else None,
            "message": self.message,
            "metrics": self.metrics,
            "steps": self.steps,
            "flags": [f.to_dict() for f in self.flags],
            "engine_info": self.engine_info,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }
        if self.co_tenancy:
            out["co_tenancy"] = self.co_tenancy
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialResult:
        return cls(
            trial_id=d["trial_id"],
            status=Status(d["status"]),
            reason=FailureReason(d["reason"]) if d.get("reason") else None,
            message=d.get("message", ""),
            metrics=dict(d.get("metrics") or {}),
            steps=list(d.get("steps") or []),
            flags=[Flag.from_dict(f) for f in d.get("flags") or []],
            engine_info=dict(d.get("engine_info") or {}),
            started_at=float(d.get("started_at") or 0.0),
            ended_at=float(d.get("ended_at") or 0.0),
            co_tenancy=dict(d.get("co_tenancy") or {}),
        )


@dataclass(frozen=True)
class StartReply:
    """An engine actor's answer to start/restart: the engine info, or why the engine did not start."""

    ok: bool
    info: dict[str, Any] = field(default_factory=dict)
    reason: FailureReason = FailureReason.ENGINE_CRASH
    message: str = ""
    log: str = ""
