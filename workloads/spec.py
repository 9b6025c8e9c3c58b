"""The fully resolved description of one workload point, as the strategies consume it.

``orchestrator.core.trial.WorkloadPoint`` carries the same field names; :meth:`LoadSpec.of` copies them
across so this package never imports the orchestrator. Fields a strategy does not use keep their
defaults (and are then left out of the trial id).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

STRATEGIES: tuple[str, ...] = (
    "concurrency",
    "constant",
    "poisson",
    "gamma",
    "max_throughput",
    "rate_sweep",
    "sla_search",
    "static_batch",
)
"""Every ``workload.name``: when to send."""

RATE_STRATEGIES: tuple[str, ...] = ("constant", "poisson", "gamma")
"""Strategies with one trial per ``workload.rate`` value."""

DATASETS: tuple[str, ...] = ("random", "sharegpt", "shared_prefix")
SWEEP_KINDS: tuple[str, ...] = ("linear", "geometric", "list")


@dataclass(frozen=True)
class LoadSpec:
    """One workload point. ``rate`` is requests/s; lengths are tokens; times are seconds."""

    name: str = "concurrency"
    api: str = "completions"
    concurrency: int = 1
    input_len: int = 64
    output_len: int = 32
    num_requests: int = 32
    warmup_requests: int = 0
    ignore_eos: bool = True
    temperature: float = 0.0
    timeout_s: float = 120.0
    seed: int = 0
    max_error_rate: float = 0.05
    max_send_delay_ms: float = 10.0  # send delay p99 above this: the client fell behind
    slo: tuple[tuple[str, float], ...] = ()
    # constraints (any strategy)
    duration_s: float | None = None
    max_errors: int | None = None
    abort_error_rate: float | None = None
    # arrivals
    rate: float | None = None
    burstiness: float = 1.0
    # dataset
    dataset: str = "random"
    dataset_path: str | None = None
    prefix_len: int = 0
    num_prefixes: int = 1
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

    @classmethod
    def of(cls, obj: Any) -> LoadSpec:
        """Copy the same-named attributes of ``obj`` (e.g. a WorkloadPoint); others keep defaults."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: getattr(obj, n) for n in names if hasattr(obj, n)})


def label(spec: Any) -> str:
    """Short human label of a point: ``c4-in64-out32``, ``poisson-r2-in64-out32``, ``b8-in100-out100``."""
    lengths = f"in{spec.input_len}-out{spec.output_len}"
    if spec.name == "concurrency":
        return f"c{spec.concurrency}-{lengths}"
    if spec.name == "static_batch":
        return f"b{spec.batch_size}-{lengths}"
    if spec.name in RATE_STRATEGIES:
        return f"{spec.name}-r{spec.rate:g}-{lengths}"
    return f"{spec.name}-{lengths}"
