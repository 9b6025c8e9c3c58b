"""Trials: one engine instance configuration × one workload point, and their outcomes."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.config.schema import EngineConfig, ModelConfig


class Status(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class FailureReason(enum.StrEnum):
    OOM = "oom"
    ENGINE_CRASH = "engine_crash"
    TIMEOUT = "timeout"
    BAD_CONFIG = "bad_config"
    REQUEST_ERRORS = "request_errors"
    NODE_LOST = "node_lost"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class WorkloadPoint:
    """One point of the workload sweep, fully resolved (no lists)."""

    name: str
    api: str
    concurrency: int
    input_len: int
    output_len: int
    num_requests: int
    warmup_requests: int
    ignore_eos: bool
    temperature: float
    timeout_s: float
    seed: int
    max_error_rate: float
    slo: tuple[tuple[str, float], ...] = ()

    def label(self) -> str:
        return f"c{self.concurrency}-in{self.input_len}-out{self.output_len}"


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hash of the canonical JSON form: the same config gives the same id on every run."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def engine_instance(engine: EngineConfig, model: ModelConfig, tp: int) -> dict[str, Any]:
    """The resolved config of one engine instance (the unit of reuse across workload points)."""
    eng = asdict(engine)
    eng["tp"] = tp
    for volatile in ("reuse", "startup_timeout_s"):
        eng.pop(volatile)
    return {"engine": eng, "model": asdict(model)}


@dataclass(frozen=True)
class Trial:
    """engine × model × TP × workload point, with ids stable across reruns."""

    trial_id: str
    group_id: str
    tp: int
    engine: EngineConfig = field(compare=False)
    model: ModelConfig = field(compare=False)
    point: WorkloadPoint = field(compare=False)

    @property
    def name(self) -> str:
        return f"{self.engine.name}-tp{self.tp}-{self.point.label()}"

    def resolved(self) -> dict[str, Any]:
        """The trial's full resolved config: what its id hashes, and what MLflow logs."""
        out = engine_instance(self.engine, self.model, self.tp)
        out["workload"] = asdict(self.point)
        return out


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
    # Step metrics of a rate sweep inside one trial: one dict per x point, e.g. {"offered_rate": 2.0, ...}.
    steps: list[dict[str, float]] = field(default_factory=list)
