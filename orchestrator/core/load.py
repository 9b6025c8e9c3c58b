"""One workload point, fully resolved (no lists): the trial's point and what the strategies run.

The grid (:mod:`orchestrator.sweep.grid`) makes one per point of the workload sweep; the trial id
hashes :meth:`LoadSpec.to_dict` (the strategy fields left out while at their defaults, so adding a
strategy did not change the ids of concurrency points); :mod:`workloads` runs it. ``rate`` is
requests/s; lengths are tokens; times are seconds.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any

from orchestrator.config.schema import WorkloadConfig


class Strategy(enum.StrEnum):
    """Every ``workload.name``: when to send."""

    CONCURRENCY = "concurrency"
    CONSTANT = "constant"
    POISSON = "poisson"
    GAMMA = "gamma"
    MAX_THROUGHPUT = "max_throughput"
    RATE_SWEEP = "rate_sweep"
    SLA_SEARCH = "sla_search"
    STATIC_BATCH = "static_batch"
    TRACE = "trace"


STRATEGIES: tuple[str, ...] = tuple(Strategy)
RATE_STRATEGIES: tuple[str, ...] = (Strategy.CONSTANT, Strategy.POISSON, Strategy.GAMMA)
"""Strategies with one trial per ``workload.rate`` value."""

DATASETS: tuple[str, ...] = ("random", "sharegpt", "shared_prefix", "conversation")
CACHE_REUSE_DATASETS: tuple[str, ...] = ("shared_prefix", "conversation")
"""Datasets built to be served partly from an engine's prefix cache."""
CONVERSATION_STRATEGIES: tuple[str, ...] = (Strategy.CONCURRENCY, *RATE_STRATEGIES, Strategy.MAX_THROUGHPUT)
"""Strategies that run ``dataset=conversation`` (sessions closed loop, or session starts open loop)."""
TRACE_FORMATS: tuple[str, ...] = ("auto", "jsonl", "mooncake", "azure")
SWEEP_KINDS: tuple[str, ...] = ("linear", "geometric", "list")


_CONFIG = WorkloadConfig()  # the one source of the defaults the point shares with the config


@dataclass(frozen=True)
class LoadSpec:
    """One workload point. Fields a strategy does not use keep their defaults: the config's own
    (``workload.*``, a list axis' first value) where the config has the field, else a value that
    means unused (0, "", None), so that the trial id leaves them out (:meth:`to_dict`)."""

    name: str = _CONFIG.name
    api: str = _CONFIG.api
    concurrency: int = _CONFIG.concurrency[0]
    input_len: int = _CONFIG.input_len[0]
    output_len: int = _CONFIG.output_len[0]
    num_requests: int = _CONFIG.num_requests
    warmup_requests: int = _CONFIG.warmup_requests
    ignore_eos: bool = _CONFIG.ignore_eos
    temperature: float = _CONFIG.temperature
    timeout_s: float = _CONFIG.timeout_s
    seed: int = _CONFIG.seed
    max_error_rate: float = _CONFIG.max_error_rate
    max_send_delay_ms: float = _CONFIG.max_send_delay_ms  # send delay p99 above this: the client fell behind
    slo: tuple[tuple[str, float], ...] = ()
    # constraints (any strategy)
    duration_s: float | None = _CONFIG.duration_s
    max_errors: int | None = _CONFIG.max_errors
    abort_error_rate: float | None = _CONFIG.abort_error_rate
    # arrivals
    rate: float | None = None
    burstiness: float = _CONFIG.burstiness
    # dataset
    dataset: str = _CONFIG.dataset.kind
    dataset_path: str | None = _CONFIG.dataset.path
    prefix_len: int = _CONFIG.dataset.prefix_len
    num_prefixes: int = _CONFIG.dataset.num_prefixes
    # conversation dataset: turns per session, pause between a response and the next turn
    turns: int = 1
    think_time_s: float = _CONFIG.dataset.think_time_s
    # trace replay
    trace_path: str | None = _CONFIG.trace.path
    trace_format: str = ""
    time_scale: float = _CONFIG.trace.time_scale
    trace_block_size: int = 0
    # rate_sweep
    sweep_kind: str = ""
    sweep_rates: tuple[float, ...] = ()
    sweep_num_rates: int = 0
    sweep_min_rate: float = 0.0
    # sla_search
    sla_min_rate: float = 0.0
    sla_max_rate: float | None = None
    sla_iterations: int = 0
    sla_rel_tol: float = 0.0
    # static_batch
    batch_size: int = 0
    runs: int = 0
    warmups: int = 0

    def label(self) -> str:
        """Short human label: ``c4-in64-out32``, ``poisson-r2-in64-out32``, ``b8-in100-out100``."""
        lengths = f"in{self.input_len}-out{self.output_len}"
        if self.dataset == "conversation":
            lengths += f"-turns{self.turns}"
        if self.name == Strategy.CONCURRENCY:
            return f"c{self.concurrency}-{lengths}"
        if self.name == Strategy.STATIC_BATCH:
            return f"b{self.batch_size}-{lengths}"
        if self.name in RATE_STRATEGIES:
            return f"{self.name}-r{self.rate:g}-{lengths}"
        if self.name == Strategy.TRACE:  # lengths are the trace's; input_len/output_len cap them (0: none)
            caps = f"-in{self.input_len}" * bool(self.input_len) + f"-out{self.output_len}" * bool(
                self.output_len
            )
            return f"trace{caps}" + (f"-x{self.time_scale:g}" if self.time_scale != 1.0 else "")
        return f"{self.name}-{lengths}"

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
        "batch_size", "runs", "warmups", "turns", "think_time_s", "trace_path", "trace_format",
        "time_scale", "trace_block_size",
    }
)  # fmt: skip
