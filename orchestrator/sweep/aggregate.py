"""A configuration's repeats → one aggregate result (pure): mean and bootstrap interval per metric,
the per-repeat values, and the ``unstable`` flag when they disagree.

The aggregate is written once every repeat of the configuration has a result (DONE or FAILED);
it is over the DONE repeats (none DONE: FAILED with the first repeat's reason). Its metrics are the
means; ``ci`` holds each metric's interval at ``stats.level`` (:func:`workloads.stats.bootstrap_ci`,
seeded by ``stats.seed``), ``repeats`` the repeat ids and every metric's value per repeat (in
repeat order). Flags: ``unstable`` (:func:`workloads.checks.unstable`: a headline metric's
coefficient of variation above ``stats.max_cv``, or failed repeats), and each qualifying flag the
finished repeats raised, as ``k of N repeats: <first reason>``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.config.schema import StatsConfig
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import Flag, FlagKind
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.repeats import repeats_of
from workloads.checks import unstable
from workloads.stats import bootstrap_ci, coefficient_of_variation


def _numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }


def aggregate(results: Sequence[Mapping[str, Any]], stats: StatsConfig) -> dict[str, Any]:
    """The aggregate fields of one configuration's repeat results (``result.json`` dicts, repeat order)."""
    done = [r for r in results if r.get("status") == Status.DONE]
    per_repeat = [_numeric(r.get("metrics") or {}) for r in done]
    keys = sorted(set.intersection(*(set(m) for m in per_repeat))) if per_repeat else []
    values = {k: [m[k] for m in per_repeat] for k in keys}
    metrics: dict[str, float] = {}
    ci: dict[str, dict[str, float]] = {}
    for k in keys:
        iv = bootstrap_ci(values[k], stats.level, resamples=stats.resamples, seed=stats.seed)
        metrics[k] = iv.value
        ci[k] = {"low": iv.low, "high": iv.high, "half_width": iv.half_width, "n": iv.n}
    flags: list[Flag] = []
    if (flag := unstable(values, stats.max_cv, failed=len(results) - len(done))) is not None:
        flags.append(flag)
    kinds: dict[str, list[str]] = {}
    for r in done:
        for f in r.get("flags") or []:
            if f.get("kind") != FlagKind.UNSTABLE:
                kinds.setdefault(str(f["kind"]), []).append(str(f.get("reason", "")))
    for kind, reasons in kinds.items():
        flags.append(Flag(FlagKind(kind), f"{len(reasons)} of {len(done)} repeats: {reasons[0]}"))
    first_failed = next((r for r in results if r.get("status") != Status.DONE), None)
    why = str((first_failed or {}).get("message") or "")
    out: dict[str, Any] = {
        "status": (Status.DONE if done else Status.FAILED).value,
        "reason": None if done or first_failed is None else first_failed.get("reason"),
        "message": "" if done else f"all {len(results)} repeats failed; the first: {why}",
        "metrics": metrics,
        "ci": {"level": stats.level, "seed": stats.seed, "resamples": stats.resamples, "metrics": ci},
        "repeats": {
            "n": len(results),
            "done": len(done),
            "trial_ids": [r["trial_id"] for r in results],
            "statuses": [r.get("status") for r in results],
            "values": values,
            "cv": {k: cv for k in keys if math.isfinite(cv := coefficient_of_variation(values[k]))},
        },
        "flags": [f.to_dict() for f in flags],
        "steps": [],
        "engine_info": dict((done or list(results))[0].get("engine_info") or {}) if results else {},
        "started_at": min((float(r.get("started_at") or 0) for r in results), default=0.0),
        "ended_at": max((float(r.get("ended_at") or 0) for r in results), default=0.0),
    }
    return out


def write_aggregates(store: ResultsStore, trials: Sequence[Trial], stats: StatsConfig) -> list[str]:
    """Write the aggregate of every configuration among ``trials`` whose repeats all have a result
    in ``store`` (replacing an earlier aggregate); the config ids written."""
    written = []
    for config_id, repeats in repeats_of(trials).items():
        results = [store.read(t.trial_id) for t in repeats]
        if any(r is None for r in results):
            continue  # a repeat is missing (interrupted): the resumed sweep writes it
        ordered = sorted(zip(repeats, results, strict=True), key=lambda p: p[0].repeat or 0)
        base = dataclasses.replace(repeats[0], repeat=None, config_id="", trial_id=config_id)
        store.write_aggregate(base, aggregate([r for _, r in ordered if r is not None], stats))
        written.append(config_id)
    return written
