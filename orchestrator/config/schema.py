"""Typed configuration: one dataclass per config group, composed by Hydra.

Lists are sweep axes (``engine.tp``, ``workload.concurrency``, ``workload.input_len``,
``workload.output_len``); everything else is fixed for a sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EngineConfig:
    """How to launch an engine. ``tp`` is a sweep axis; other fields apply to every instance."""

    name: str = "vllm"
    tp: list[int] = field(default_factory=lambda: [1])
    dtype: str = "auto"
    quantization: str | None = None
    max_num_seqs: int | None = None
    gpu_memory_utilization: float | None = None
    enable_prefix_caching: bool | None = None
    enforce_eager: bool | None = None  # None: eager on CPU (fast start), engine default on GPU
    seed: int = 0
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cpus: int = 1
    startup_timeout_s: float = 600.0
    reuse: bool = True


@dataclass
class ModelConfig:
    """The served model. ``path: tiny`` builds the local test model; else a local dir or hub id."""

    name: str = "tiny-llama"
    path: str = "tiny"
    max_model_len: int = 512
    revision: str | None = None
    trust_remote_code: bool = False


@dataclass
class SLOConfig:
    """Service-level objectives for goodput; unset (null) objectives are not checked."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None


@dataclass
class DatasetConfig:
    """Where prompts come from: ``random`` (exact input_len), ``sharegpt`` (replay of a local
    ShareGPT-format JSON at ``path``) or ``shared_prefix`` (``num_prefixes`` distinct prefixes of
    ``prefix_len`` tokens, total length exactly input_len)."""

    kind: str = "random"
    path: str | None = None
    prefix_len: int = 0
    num_prefixes: int = 1


@dataclass
class RateSweepConfig:
    """``rate_sweep``: ``linear``/``geometric`` = ``num_rates`` rates from ``min_rate`` to the
    measured max throughput; ``list`` = the rates in ``workload.rate``."""

    kind: str = "linear"
    num_rates: int = 5
    min_rate: float = 1.0


@dataclass
class SLASearchConfig:
    """``sla_search``: bisection between ``min_rate`` and ``max_rate`` (null: the measured max
    throughput) for ``iterations`` steps or until the interval is below ``rel_tol`` × rate."""

    min_rate: float = 0.5
    max_rate: float | None = None
    iterations: int = 6
    rel_tol: float = 0.05


@dataclass
class WorkloadConfig:
    """What the load generator sends. List fields are sweep axes (one trial per combination)."""

    name: str = "concurrency"
    api: str = "completions"
    concurrency: list[int] = field(default_factory=lambda: [1, 4])
    input_len: list[int] = field(default_factory=lambda: [64])
    output_len: list[int] = field(default_factory=lambda: [32])
    num_requests: int = 32
    warmup_requests: int = 0
    ignore_eos: bool = True
    temperature: float = 0.0
    timeout_s: float = 120.0
    seed: int = 0
    max_error_rate: float = 0.05
    slo: SLOConfig = field(default_factory=SLOConfig)
    # strategies other than concurrency (see workloads/strategies.py); `name` selects the strategy
    rate: list[float] = field(default_factory=lambda: [1.0])  # req/s; a sweep axis (constant/poisson/gamma)
    burstiness: float = 1.0  # gamma shape: < 1 burstier, > 1 smoother; 1 = Poisson
    duration_s: float | None = None  # stop sending after this long
    max_errors: int | None = None  # stop sending after this many failed requests
    abort_error_rate: float | None = None  # stop sending when failed/finished exceeds this
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    sweep: RateSweepConfig = field(default_factory=RateSweepConfig)
    sla: SLASearchConfig = field(default_factory=SLASearchConfig)
    batch_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])  # static_batch axis
    runs: int = 10  # static_batch: measured runs per batch size
    warmups: int = 1  # static_batch: warmup runs before them


@dataclass
class ResourcesConfig:
    """The cluster to start (local) or expect (``ray.address``). ``device: cpu`` runs engines on CPU."""

    name: str = "cpu"
    device: str = "cpu"
    num_nodes: int = 1
    gpus_per_node: int | None = 8  # None: detect the real GPUs (resources=gpu)
    cpus_per_node: int = 16
    object_store_mb: int = 256


@dataclass
class RayConfig:
    """``address: null`` starts a private local cluster; ``auto`` or ``host:port`` connects."""

    address: str | None = None
    temp_dir: str | None = None
    namespace: str = "llm-orchestrator"
    max_concurrent_engines: int = 1


@dataclass
class TrackingConfig:
    """``uri: null`` starts a local MLflow server on 127.0.0.1 for the run."""

    enabled: bool = True
    uri: str | None = None
    experiment: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    keep_server: bool = False
    startup_timeout_s: float = 90.0


@dataclass
class ExperimentConfig:
    """The whole composed experiment."""

    name: str = "smoke"
    description: str = ""
    sweep_id: str | None = None
    results_dir: str = "results"
    dry_run: bool = False
    engine: EngineConfig = field(default_factory=EngineConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
