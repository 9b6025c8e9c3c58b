"""Trials: one engine instance configuration × one workload point, and their outcomes."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.sweep.engine_axes import axes_label
from workloads.spec import label
from workloads.validity import Flag


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
    CLIENT_BEHIND = "client_behind"
    NODE_LOST = "node_lost"
    INTERRUPTED = "interrupted"
    # validity flags that fail a trial (workloads.validity.FlagKind of the same value)
    SHORT_OUTPUTS = "short_outputs"
    PREFIX_CACHE_HITS = "prefix_cache_hits"
    BUNCHED_STREAM = "bunched_stream"


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
    # Strategy fields (workloads.spec.LoadSpec has the same names). Left out of the trial id while
    # at their defaults, so the ids of concurrency points do not change.
    duration_s: float | None = None
    max_errors: int | None = None
    abort_error_rate: float | None = None
    rate: float | None = None
    burstiness: float = 1.0
    dataset: str = "random"
    dataset_path: str | None = None
    prefix_len: int = 0
    num_prefixes: int = 1
    max_send_delay_ms: float = 10.0
    sweep_kind: str = ""
    sweep_rates: tuple[float, ...] = ()
    sweep_num_rates: int = 0
    sweep_min_rate: float = 0.0
    sla_min_rate: float = 0.0
    sla_max_rate: float | None = None
    sla_iterations: int = 0
    sla_rel_tol: float = 0.0
    batch_size: int = 0
    runs: int = 0
    warmups: int = 0

    def label(self) -> str:
        return label(self)

    def to_dict(self) -> dict[str, Any]:
        """The point's fields, strategy fields left out while at their defaults."""
        defaults = {f.name: f.default for f in fields(self) if f.name in STRATEGY_FIELDS}
        return {k: v for k, v in asdict(self).items() if k not in defaults or v != defaults[k]}


STRATEGY_FIELDS = frozenset(
    {
        "duration_s", "max_errors", "abort_error_rate", "rate", "burstiness", "dataset",
        "dataset_path", "prefix_len", "num_prefixes", "max_send_delay_ms", "sweep_kind",
        "sweep_rates", "sweep_num_rates", "sweep_min_rate", "sla_min_rate", "sla_max_rate",
        "sla_iterations", "sla_rel_tol",
        "batch_size", "runs", "warmups",
    }
)  # fmt: skip


ENGINE_SECTIONS = ("tgi", "flexgen")


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hash of the canonical JSON form: the same config gives the same id on every run."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def engine_instance(engine: EngineConfig, model: ModelConfig, tp: int) -> dict[str, Any]:
    """The resolved config of one engine instance (the unit of reuse across workload points)."""
    eng = asdict(engine)
    eng["tp"] = tp
    for volatile in ("reuse", "startup_timeout_s", "sweep", "reference_version"):
        eng.pop(volatile, None)
    for section in ENGINE_SECTIONS:  # another engine's option group does not change this one's id
        if eng["name"] != section:
            eng.pop(section, None)
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
    axes: tuple[tuple[str, Any], ...] = field(default=(), compare=False)  # engine.sweep values

    @property
    def label(self) -> str:
        """Swept engine options (if any) and the workload point: ``num_gpu_batches4-c1-in128-out32``."""
        return f"{axes_label(self.axes)}-{self.point.label()}" if self.axes else self.point.label()

    @property
    def name(self) -> str:
        return f"{self.engine.name}-tp{self.tp}-{self.label}"

    def resolved(self) -> dict[str, Any]:
        """The trial's full resolved config: what its id hashes, and what MLflow logs."""
        out = engine_instance(self.engine, self.model, self.tp)
        out["workload"] = self.point.to_dict()
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
    steps: list[dict[str, float]] = field(default_factory=list)  # rate-sweep steps / SLA probes
    flags: list[Flag] = field(default_factory=list)  # validity checks it failed (workloads.validity)
