"""Validation of the strategy, constraint and dataset fields of ``workload`` (before any request)."""

from __future__ import annotations

import math

from orchestrator.config.schema import WorkloadConfig
from orchestrator.core.errors import ConfigError
from orchestrator.core.load import (
    CONVERSATION_STRATEGIES,
    DATASETS,
    RATE_STRATEGIES,
    SWEEP_KINDS,
    TRACE_FORMATS,
    Strategy,
)


def validate_workload(w: WorkloadConfig, slo_set: bool) -> None:
    """Raise ConfigError naming the first bad ``workload.*`` field of the chosen strategy."""
    _optional_positive("workload.duration_s", w.duration_s)
    _optional_positive("workload.max_errors", w.max_errors)
    if w.abort_error_rate is not None and not 0.0 <= w.abort_error_rate <= 1.0:
        raise ConfigError("workload.abort_error_rate", f"must be within [0, 1], got {w.abort_error_rate}")
    if w.name in RATE_STRATEGIES or (w.name == Strategy.RATE_SWEEP and w.sweep.kind == "list"):
        _positive_list("workload.rate", w.rate)
    if w.name in (Strategy.GAMMA, Strategy.RATE_SWEEP, Strategy.SLA_SEARCH):
        _positive("workload.burstiness", w.burstiness)
    if w.name == Strategy.RATE_SWEEP:
        if w.sweep.kind not in SWEEP_KINDS:
            raise ConfigError("workload.sweep.kind", f"unknown value '{w.sweep.kind}'", SWEEP_KINDS)
        _positive("workload.sweep.num_rates", w.sweep.num_rates)
        _positive("workload.sweep.min_rate", w.sweep.min_rate)
    if w.name == Strategy.SLA_SEARCH:
        if not slo_set:
            raise ConfigError("workload.slo", "sla_search needs at least one of ttft_ms, tpot_ms, e2e_ms")
        _positive("workload.sla.min_rate", w.sla.min_rate)
        if w.sla.max_rate is not None and w.sla.max_rate < w.sla.min_rate:
            raise ConfigError(
                "workload.sla.max_rate",
                f"must be >= workload.sla.min_rate={w.sla.min_rate}, got {w.sla.max_rate}",
            )
        if w.sla.iterations < 0 or w.sla.rel_tol < 0:
            raise ConfigError("workload.sla", "iterations and rel_tol must be >= 0")
    if w.name == Strategy.STATIC_BATCH:
        if not w.ignore_eos:
            raise ConfigError(
                "workload.ignore_eos", "static_batch needs true: every sequence decodes output_len"
            )
        _positive_list("workload.batch_sizes", w.batch_sizes)
        _positive("workload.runs", w.runs)
        if w.warmups < 0:
            raise ConfigError("workload.warmups", f"must be >= 0, got {w.warmups}")
    if w.name == Strategy.TRACE:
        _validate_trace(w)
    _validate_dataset(w)


def _validate_trace(w: WorkloadConfig) -> None:
    """The trace's own fields; the file itself is read by orchestrator.sweep.checks."""
    t = w.trace
    if not t.path:
        raise ConfigError("workload.trace.path", "trace replay needs the path of a local trace file")
    if t.format not in TRACE_FORMATS:
        raise ConfigError("workload.trace.format", f"unknown value '{t.format}'", TRACE_FORMATS)
    _positive("workload.trace.time_scale", t.time_scale)
    _positive("workload.trace.block_size", t.block_size)
    _optional_positive("workload.trace.max_input_len", t.max_input_len)
    _optional_positive("workload.trace.max_output_len", t.max_output_len)
    if w.dataset.kind != "random":
        raise ConfigError(
            "workload.dataset.kind",
            f"trace replay builds its prompts from the trace's lengths (and hash_ids); "
            f"got '{w.dataset.kind}', leave it random",
        )


def _validate_dataset(w: WorkloadConfig) -> None:
    d = w.dataset
    if d.kind not in DATASETS:
        raise ConfigError("workload.dataset.kind", f"unknown value '{d.kind}'", DATASETS)
    if d.kind == "sharegpt" and not d.path:  # the file itself is read by orchestrator.sweep.checks
        raise ConfigError("workload.dataset.path", "sharegpt needs the path of a local ShareGPT JSON file")
    if d.kind == "conversation":
        if w.name not in CONVERSATION_STRATEGIES:
            raise ConfigError(
                "workload.name",
                f"dataset.kind=conversation runs sessions closed loop or their starts open loop; "
                f"'{w.name}' cannot",
                CONVERSATION_STRATEGIES,
            )
        _positive("workload.dataset.turns", d.turns)
        if not 0 <= d.think_time_s < math.inf:
            raise ConfigError(
                "workload.dataset.think_time_s", f"must be >= 0 and finite, got {d.think_time_s}"
            )
    if d.kind == "shared_prefix":
        _positive("workload.dataset.num_prefixes", d.num_prefixes)
        if not 0 < d.prefix_len < min(w.input_len):
            raise ConfigError(
                "workload.dataset.prefix_len",
                f"must be > 0 and below the shortest workload.input_len ({min(w.input_len)}), "
                f"got {d.prefix_len}",
            )


def _positive(field: str, value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ConfigError(field, f"must be > 0 and finite, got {value}")


def _optional_positive(field: str, value: float | None) -> None:
    if value is not None:
        _positive(field, value)


def _positive_list(field: str, values: list[float] | list[int]) -> None:
    if not values:
        raise ConfigError(field, "must list at least one value")
    for v in values:
        _positive(field, v)
