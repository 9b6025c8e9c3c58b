"""Grid expansion (pure): the product of the sweep axes into Trials with stable ids."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.validate import slo_items
from orchestrator.core.load import RATE_STRATEGIES, LoadSpec, Strategy
from orchestrator.core.trial import Trial, engine_instance, stable_hash
from orchestrator.sweep.engine_axes import engine_variants


def workload_points(cfg: ExperimentConfig) -> list[LoadSpec]:
    """input_len × output_len × the strategy's own axis (concurrency, rate or batch size)."""
    w = cfg.workload
    common: dict[str, Any] = dict(
        name=w.name,
        api=w.api,
        num_requests=w.num_requests,
        warmup_requests=w.warmup_requests,
        ignore_eos=w.ignore_eos,
        temperature=w.temperature,
        timeout_s=w.timeout_s,
        seed=w.seed,
        max_error_rate=w.max_error_rate,
        max_send_delay_ms=w.max_send_delay_ms,
        slo=tuple(slo_items(cfg)),
        duration_s=w.duration_s,
        max_errors=w.max_errors,
        abort_error_rate=w.abort_error_rate,
        dataset=w.dataset.kind,
        dataset_path=w.dataset.path if w.dataset.kind in ("sharegpt", "conversation") else None,
        prefix_len=w.dataset.prefix_len if w.dataset.kind == "shared_prefix" else 0,
        num_prefixes=w.dataset.num_prefixes if w.dataset.kind == "shared_prefix" else 1,
    )
    if w.dataset.kind == "conversation":
        common.update(turns=w.dataset.turns, think_time_s=w.dataset.think_time_s)
    if w.name == Strategy.TRACE:
        t = w.trace
        common.update(
            trace_path=t.path, trace_format=t.format, time_scale=t.time_scale, trace_block_size=t.block_size
        )
    if w.name in (Strategy.RATE_SWEEP, Strategy.SLA_SEARCH) or w.name in RATE_STRATEGIES:
        common["burstiness"] = 1.0 if w.name in (Strategy.POISSON, Strategy.CONSTANT) else w.burstiness
    lengths = list(itertools.product(w.input_len, w.output_len))
    if w.name == Strategy.TRACE:  # the rows' own lengths; the point carries the caps (0: none)
        lengths = [(w.trace.max_input_len or 0, w.trace.max_output_len or 0)]
    if w.name == Strategy.CONCURRENCY:
        return [
            LoadSpec(concurrency=c, input_len=i, output_len=o, **common)
            for (i, o), c in itertools.product(lengths, w.concurrency)
        ]
    extra: list[dict[str, Any]] = [{}]
    if w.name in RATE_STRATEGIES:
        extra = [{"rate": float(r)} for r in w.rate]
    elif w.name == Strategy.STATIC_BATCH:
        extra = [{"batch_size": b, "runs": w.runs, "warmups": w.warmups} for b in w.batch_sizes]
    elif w.name == Strategy.RATE_SWEEP:
        sweep: dict[str, Any] = {"sweep_kind": w.sweep.kind}
        if w.sweep.kind == "list":
            sweep["sweep_rates"] = tuple(float(r) for r in w.rate)
        else:
            sweep.update(sweep_num_rates=w.sweep.num_rates, sweep_min_rate=w.sweep.min_rate)
        extra = [sweep]
    elif w.name == Strategy.SLA_SEARCH:
        sla = w.sla
        extra = [
            dict(
                sla_min_rate=sla.min_rate,
                sla_max_rate=sla.max_rate,
                sla_iterations=sla.iterations,
                sla_rel_tol=sla.rel_tol,
            )
        ]
    return [
        LoadSpec(concurrency=0, input_len=i, output_len=o, **common, **x)
        for (i, o), x in itertools.product(lengths, extra)
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
