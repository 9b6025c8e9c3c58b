"""A stored trial as an MLflow run (pure): params, summary metrics, tags, step metrics, artifacts.

The live sweep, ``orchestrator.sync`` and the comparison helper all read trials from the local
store through here, so MLflow shows exactly what the (redacted) results dir holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.engine_info import cores_text, workers_text
from orchestrator.core.status import Status
from orchestrator.core.validity import flags_text
from orchestrator.store.reader import TrialData, read_sweep_meta

MAX_PARAM_LEN = 500
STEP_PREFIX = "steps/"  # step metrics never collide with (and never hide) the summary metrics
REPEAT_PREFIX = "repeats/"  # an aggregate's per-repeat values: metric repeats/<name>, step = repeat
HOST_KEYS = ("hostname", "cpu_model", "cpu_count", "gpus", "gpu_count")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config → ``a.b.c`` params (strings, truncated to MLflow's limit)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = str(v)[:MAX_PARAM_LEN]
    return out


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Finite numeric metrics only: NaN (undefined) is left out, never logged as 0."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or (isinstance(v, int | float) and math.isfinite(float(v))):
            out[k] = float(v)
    return out


def trial_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The summary metrics of a stored trial (plus the engine start-up time when known)."""
    metrics = numeric_metrics(result.get("metrics") or {})
    flags = result.get("flags") or []
    if flags:  # a clean trial logs none; a failed one logs only these
        metrics["num_flags"] = float(len(flags))
        metrics.update({f"flag_{f['kind']}": 1.0 for f in flags})
    startup = (result.get("engine_info") or {}).get("startup_s")
    if isinstance(startup, int | float) and math.isfinite(float(startup)):
        metrics["engine_startup_s"] = float(startup)
    for key, ci in ((result.get("ci") or {}).get("metrics") or {}).items():  # an aggregate's intervals
        metrics.update(numeric_metrics({f"{key}_ci_low": ci.get("low"), f"{key}_ci_high": ci.get("high")}))
    return metrics


def repeat_series(result: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """An aggregate's per-repeat values as (``repeats/<metric>``, value, repeat index)."""
    values = ((result.get("repeats") or {}).get("values")) or {}
    return [
        (f"{REPEAT_PREFIX}{key}", float(v), i)
        for key, vs in values.items()
        for i, v in enumerate(vs)
        if isinstance(v, int | float) and math.isfinite(float(v))
    ]


def step_points(
    points: Sequence[Mapping[str, Any]], x: str = "offered_rate"
) -> list[tuple[int, dict[str, float]]]:
    """Rate-sweep points → (step, metrics) sorted by ``x``; step = index, ``x`` is logged as a metric too.

    MLflow steps are integers while offered rates need not be, so the x value rides along as the
    metric ``steps/<x>``: plot any ``steps/...`` metric against it in the UI (x-axis: that metric).
    """
    ordered = sorted(points, key=lambda p: float(p.get(x, math.inf)))
    return [
        (i, {f"{STEP_PREFIX}{k}": v for k, v in numeric_metrics(p).items()}) for i, p in enumerate(ordered)
    ]


def _workload_label(config: Mapping[str, Any]) -> str:
    w = config.get("workload") or {}
    return f"c{w.get('concurrency')}-in{w.get('input_len')}-out{w.get('output_len')}"


def trial_tags(
    result: Mapping[str, Any], config: Mapping[str, Any], sweep_meta: Mapping[str, Any]
) -> dict[str, str]:
    """Searchable tags: what ran (engine, model, tp, workload), how it ended, and where (commit, host)."""
    info = result.get("engine_info") or {}
    prov = sweep_meta.get("provenance") or {}
    host = info.get("node") or prov.get("driver") or {}
    tags = {
        "kind": "trial",
        "trial_id": str(result["trial_id"]),
        "engine": str(result.get("engine") or (config.get("engine") or {}).get("name", "")),
        "model": str(result.get("model") or (config.get("model") or {}).get("name", "")),
        "tp": str(result.get("tp", "")),
        "workload": str(result.get("workload") or _workload_label(config)),
        "status": str(result.get("status", "")),
        "failure_reason": str(result.get("reason") or ""),
        "engine_version": str(info.get("engine_version", "")),
        "gpu_ids": ",".join(str(g) for g in info.get("gpu_ids", [])),
        # what the engine really ran (orchestrator.execution.engine_run), '' when not recorded
        "engine_tp": str(info.get("tensor_parallel_size", "")),
        "executor_backend": str(info.get("executor_backend") or ""),
        "engine_workers": workers_text(info)[:MAX_PARAM_LEN],
        "cpu_cores": cores_text(info),
        "git_commit": str(prov.get("git_commit", "")),
        "ended_at": repr(float(result.get("ended_at") or 0.0)),
    }
    tags.update({f"host.{k}": str(host[k]) for k in HOST_KEYS if k in host})
    flags = result.get("flags") or []
    tags["flags"] = flags_text(flags)  # '' = a clean run; else the validity checks it failed
    tags.update({f"flag.{f['kind']}": str(f.get("reason", ""))[:MAX_PARAM_LEN] for f in flags})
    if result.get("steps"):
        tags["steps_x"] = "offered_rate"
    if result.get("config_id"):  # a repeat, or the aggregate over a configuration's repeats
        tags["config_id"] = str(result["config_id"])
    if result.get("repeat") is not None:
        tags["repeat"] = str(result["repeat"])
    if result.get("aggregate"):
        tags["aggregate"] = "true"
        tags["repeats"] = str((result.get("repeats") or {}).get("n", ""))
    return tags


@dataclass(frozen=True)
class RunRecord:
    """Everything one child run gets, read from a trial directory of the local store."""

    trial_id: str
    name: str
    ok: bool
    ended_at: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    steps: list[dict[str, float]] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    report_dir: Path | None = None
    series: list[tuple[str, float, int]] = field(default_factory=list)  # (metric, value, step)


def record_of(trial: TrialData, sweep_meta: Mapping[str, Any] | None = None) -> RunRecord:
    """A stored trial as a run record (its sweep's ``sweep.json`` is read when not given)."""
    result, config = trial.result, trial.config
    if sweep_meta is None:
        sweep_meta = read_sweep_meta(trial.dir.parent.parent) if trial.dir else {}
    tags = trial_tags(result, config, sweep_meta)
    return RunRecord(
        trial_id=tags["trial_id"],
        name=str(result.get("name") or tags["trial_id"]),
        ok=result.get("status") == Status.DONE,
        ended_at=tags["ended_at"],
        params=flatten(config),
        metrics=trial_metrics(result),
        tags=tags,
        steps=list(result.get("steps") or []),
        artifacts=trial.artifacts(),
        report_dir=trial.report_dir,
        series=repeat_series(result),
    )
