"""Trial identity and status: one engine instance configuration × one workload point.

A trial id is the first 12 hex digits of the SHA-256 of the trial's resolved config as canonical
JSON (:func:`stable_hash` of :meth:`Trial.resolved`); the group id (the unit of engine reuse)
hashes the engine instance alone (:func:`engine_instance`). With ``repeats`` > 1 each repeat is a
trial of its own whose resolved config adds ``repeat: <index>`` (:mod:`orchestrator.sweep.repeats`);
with one repeat nothing is added, so the ids of earlier sweeps stay what they were.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.config.schema import ENGINE_SECTIONS, EngineConfig, ModelConfig
from orchestrator.core.load import LoadSpec

Axes = tuple[tuple[str, Any], ...]
"""Engine-option sweep values of a trial: (dotted path under ``engine``, value) pairs."""


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
    if eng.get("distributed_executor_backend") is None:  # added later: unset keeps the ids it had
        eng.pop("distributed_executor_backend", None)
    for section in ENGINE_SECTIONS:  # another engine's option group does not change this one's id
        if eng["name"] != section:
            eng.pop(section, None)
    return {"engine": eng, "model": asdict(model)}


def axes_label(axes: Axes) -> str:
    """``num_gpu_batches4-percent100,0,...`` for trial names ('' without axes)."""
    parts = []
    for path, value in axes:
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        parts.append(f"{path.rsplit('.', 1)[-1]}{text}")
    return "-".join(parts)


@dataclass(frozen=True)
class Trial:
    """engine × model × TP × workload point, with ids stable across reruns."""

    trial_id: str
    group_id: str
    tp: int
    engine: EngineConfig = field(compare=False)
    model: ModelConfig = field(compare=False)
    point: LoadSpec = field(compare=False)
    axes: Axes = field(default=(), compare=False)  # engine.sweep values
    repeat: int | None = field(default=None, compare=False)  # the repeat index, only when repeats > 1
    config_id: str = field(default="", compare=False)  # the id without the repeat index

    @property
    def base_id(self) -> str:
        """The configuration's id: what the trial id is without a repeat index (the same for all
        repeats of a trial; the trial id itself when it has none)."""
        return self.config_id or self.trial_id

    @property
    def label(self) -> str:
        """Swept engine options (if any) and the workload point: ``num_gpu_batches4-c1-in128-out32``."""
        return f"{axes_label(self.axes)}-{self.point.label()}" if self.axes else self.point.label()

    @property
    def name(self) -> str:
        base = f"{self.engine.name}-tp{self.tp}-{self.label}"
        return base if self.repeat is None else f"{base}-r{self.repeat}"

    def resolved(self) -> dict[str, Any]:
        """The trial's full resolved config: what its id hashes, and what MLflow logs."""
        out = engine_instance(self.engine, self.model, self.tp)
        out["workload"] = self.point.to_dict()
        if self.repeat is not None:
            out["repeat"] = self.repeat
        return out
