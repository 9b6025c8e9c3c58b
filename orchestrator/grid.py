"""Grid expansion (pure): the product of the sweep axes into Trials with stable ids."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.validate import slo_items
from orchestrator.engine_axes import engine_variants
from orchestrator.trial import Trial, WorkloadPoint, engine_instance, stable_hash


def workload_points(cfg: ExperimentConfig) -> list[WorkloadPoint]:
    w = cfg.workload
    return [
        WorkloadPoint(
            name=w.name,
            api=w.api,
            concurrency=c,
            input_len=i,
            output_len=o,
            num_requests=w.num_requests,
            warmup_requests=w.warmup_requests,
            ignore_eos=w.ignore_eos,
            temperature=w.temperature,
            timeout_s=w.timeout_s,
            seed=w.seed,
            max_error_rate=w.max_error_rate,
            slo=tuple(slo_items(cfg)),
        )
        for i, o, c in itertools.product(w.input_len, w.output_len, w.concurrency)
    ]


def expand(cfg: ExperimentConfig) -> list[Trial]:
    """engine.tp × engine.sweep × workload points, in config order. Ids hash the resolved trial config."""
    trials: list[Trial] = []
    for tp in _unique(cfg.engine.tp):
        for engine, axes in engine_variants(cfg.engine):
            group_id = stable_hash(engine_instance(engine, cfg.model, tp))
            for point in workload_points(cfg):
                trial = Trial("", group_id, tp, engine, cfg.model, point, axes)
                trials.append(
                    Trial(stable_hash(trial.resolved()), group_id, tp, engine, cfg.model, point, axes)
                )
    return trials


def group_by_engine(trials: Iterable[Trial]) -> dict[str, list[Trial]]:
    """Trials that can share one running engine instance, keyed by group id (order kept)."""
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(t.group_id, []).append(t)
    return groups


def _unique(values: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(values))
