"""Validation of the composed config's own fields (pure), before Ray or any engine starts.

The checks that need the engines, the planned cluster or a dataset file are
:func:`orchestrator.sweep.checks.validate`'s, which runs these first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestrator.config.planner import SEARCHES, PlannerConfig
from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.validate_workload import validate_workload
from orchestrator.core.errors import ConfigError
from orchestrator.core.load import STRATEGIES
from orchestrator.core.percentile_rules import RULE_NAMES

WORKLOADS = STRATEGIES
APIS = ("completions", "chat")
DEVICES = ("cpu", "gpu")
KINDS = ("serving", "planner")


def slo_items(cfg: ExperimentConfig) -> list[tuple[str, float]]:
    """The SLOs that are set, as (key, value) pairs."""
    return [(k, v) for k, v in vars(cfg.workload.slo).items() if v is not None]


def validate_fields(cfg: ExperimentConfig, engine_names: Iterable[str]) -> None:
    """Raise ConfigError (naming the field and the allowed values) for the first bad field."""
    _one_of("kind", cfg.kind, KINDS)
    _one_of("report.percentiles", cfg.report.percentiles, RULE_NAMES)
    if cfg.kind == "planner":
        validate_planner(cfg.planner)
    engines = sorted(engine_names)
    if cfg.engine.name not in engines:
        raise ConfigError("engine.name", f"unknown engine '{cfg.engine.name}'", engines)
    _positive("engine.trial_timeout_s", cfg.engine.trial_timeout_s)
    w, r = cfg.workload, cfg.resources
    _one_of("workload.name", w.name, WORKLOADS)
    _one_of("workload.api", w.api, APIS)
    _one_of("resources.device", r.device, DEVICES)
    for field, values in (
        ("engine.tp", cfg.engine.tp),
        ("workload.concurrency", w.concurrency),
        ("workload.input_len", w.input_len),
        ("workload.output_len", w.output_len),
    ):
        if not values:
            raise ConfigError(field, "must list at least one value")
        for v in values:
            _positive(field, v)
    for field, value in (
        ("workload.num_requests", w.num_requests),
        ("workload.timeout_s", w.timeout_s),
        ("workload.max_send_delay_ms", w.max_send_delay_ms),
        ("engine.cpus", cfg.engine.cpus),
        ("engine.startup_timeout_s", cfg.engine.startup_timeout_s),
        ("model.max_model_len", cfg.model.max_model_len),
        ("resources.num_nodes", r.num_nodes),
    ):
        _positive(field, value)
    for field, optional in (
        ("resources.cpus_per_node", r.cpus_per_node),
        ("ray.max_concurrent_engines", cfg.ray.max_concurrent_engines),
    ):
        if optional is not None:
            _positive(field, optional)
    if r.gpus_per_node is not None:
        _positive("resources.gpus_per_node", r.gpus_per_node)
    if cfg.ray.max_retries < 0:
        raise ConfigError("ray.max_retries", f"must be >= 0, got {cfg.ray.max_retries}")
    if cfg.ray.warm_workers < 0:
        raise ConfigError("ray.warm_workers", f"must be >= 0 (0: off), got {cfg.ray.warm_workers}")
    if w.warmup_requests < 0:
        raise ConfigError("workload.warmup_requests", f"must be >= 0, got {w.warmup_requests}")
    if not 0.0 <= w.max_error_rate <= 1.0:
        raise ConfigError("workload.max_error_rate", f"must be within [0, 1], got {w.max_error_rate}")
    if w.temperature < 0:
        raise ConfigError("workload.temperature", f"must be >= 0, got {w.temperature}")
    for key, value in slo_items(cfg):
        _positive(f"workload.slo.{key}", value)
    validate_workload(w, slo_set=bool(slo_items(cfg)))
    longest = max(w.input_len) + max(w.output_len)
    if w.dataset.kind == "conversation" and w.dataset.turns * longest > cfg.model.max_model_len:
        raise ConfigError(
            "workload.dataset.turns",
            f"{w.dataset.turns} turns of input {max(w.input_len)} + output {max(w.output_len)} tokens: the "
            f"last turn's history reaches {w.dataset.turns * longest} tokens, above "
            f"model.max_model_len={cfg.model.max_model_len}; lower the turns or lengths, "
            "or raise model.max_model_len",
        )
    if longest > cfg.model.max_model_len:
        raise ConfigError(
            "workload.input_len",
            f"input {max(w.input_len)} + output {max(w.output_len)} = {longest} tokens exceeds "
            f"model.max_model_len={cfg.model.max_model_len}; lower the lengths or raise model.max_model_len",
        )
    validate_stats(cfg)
    if not 0 <= cfg.tracking.port <= 65535:
        raise ConfigError(
            "tracking.port", f"must be within 0..65535 (0 = any free port), got {cfg.tracking.port}"
        )


RESTARTS = ("warm", "cold")


def validate_stats(cfg: ExperimentConfig) -> None:
    """``repeats``, ``stats.*`` and ``cost.*``."""
    if cfg.repeats < 1:
        raise ConfigError("repeats", f"must be >= 1, got {cfg.repeats}")
    s = cfg.stats
    if not 0 < s.level < 1:
        raise ConfigError("stats.level", f"must be within (0, 1), got {s.level}")
    _one_of("stats.restart", s.restart, RESTARTS)
    _positive("stats.max_cv", s.max_cv)
    _positive("stats.resamples", s.resamples)
    if cfg.cost.gpu_hour_usd is not None and cfg.cost.gpu_hour_usd < 0:
        raise ConfigError("cost.gpu_hour_usd", f"must be >= 0 or null, got {cfg.cost.gpu_hour_usd}")


def _one_of(field: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ConfigError(field, f"unknown value '{value}'", allowed)


def _positive(field: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(field, f"must be > 0, got {value}")


def validate_planner(p: PlannerConfig) -> None:
    """Raise ConfigError naming ``planner.<field>`` for the first bad value."""
    if not p.batches:
        raise ConfigError("planner.batches", "must list at least one batch")
    for name, sizes in (("planner.tp_sizes", p.tp_sizes), ("planner.cp_sizes", p.cp_sizes)):
        if not sizes:
            raise ConfigError(name, "must list at least one size")
        for s in sizes:
            if s <= 0:
                raise ConfigError(name, f"sizes must be > 0, got {s}")
        if 1 not in sizes:
            raise ConfigError(name, "must include 1 (a one-GPU group is always possible)")
    if p.search not in SEARCHES:
        raise ConfigError("planner.search", f"unknown value '{p.search}'", SEARCHES)
    if p.exact_max_work <= 0:
        raise ConfigError("planner.exact_max_work", f"must be > 0, got {p.exact_max_work}")
    if p.calibration_path is not None and not p.calibration_path.strip():
        raise ConfigError("planner.calibration_path", "must be a file path or null (the default table)")
    for i, b in enumerate(p.batches):
        prefix = f"planner.batches[{i}]"
        if b.gpus <= 0:
            raise ConfigError(f"{prefix}.gpus", f"must be > 0, got {b.gpus}")
        if not b.sequences:
            raise ConfigError(f"{prefix}.sequences", "must list at least one sequence")
        for j, r in enumerate(b.sequences):
            if r.length <= 0:
                raise ConfigError(f"{prefix}.sequences[{j}].length", f"must be > 0, got {r.length}")
            if r.count <= 0:
                raise ConfigError(f"{prefix}.sequences[{j}].count", f"must be > 0, got {r.count}")
