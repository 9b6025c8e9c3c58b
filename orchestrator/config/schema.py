"""Typed configuration: one dataclass per config group, composed by Hydra.

Lists are sweep axes (``engine.tp``, ``workload.concurrency``, ``workload.input_len``,
``workload.output_len``); everything else is fixed for a sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.planner.config import PlannerConfig


@dataclass
class TGIConfig:
    """text-generation-launcher arguments (seed 001). None/false/empty → the flag is omitted.

    ``shard_uds_path``, ``master_addr``, ``master_port``, ``prometheus_port``: None gives each engine
    instance its own (a free port, a per-instance socket path); a set value is only allowed when no
    two instances can share a node (orchestrator/execution/side_channels.py).
    """

    launcher: str = "native"  # native | docker | podman
    # the launcher's version: which flags and env vars exist (--max-input-tokens from 2.0.0,
    # --prometheus-port from 3.3.0, USE_PREFIX_CACHING in 2.3.x, PREFIX_CACHING from 3.0.0)
    version: str = "3.3.7"
    image: str = "ghcr.io/huggingface/text-generation-inference:latest"
    shm_size: str = "1g"
    sharded: bool | None = None
    quantize: str | None = None
    max_concurrent_requests: int | None = None
    max_best_of: int | None = None
    max_stop_sequences: int | None = None
    max_input_length: int | None = None
    max_total_tokens: int | None = None
    max_batch_size: int | None = None
    waiting_served_ratio: float | None = None
    max_batch_prefill_tokens: int | None = None
    max_batch_total_tokens: int | None = None
    max_waiting_tokens: int | None = None
    shard_uds_path: str | None = None
    master_addr: str | None = None
    master_port: int | None = None
    prometheus_port: int | None = None  # TGI >= 3.3.0 (its default 9000)
    prefix_caching: bool | None = None  # None: TGI's default; needs TGI >= 2.3 to be true
    huggingface_hub_cache: str | None = None
    weights_cache_override: str | None = None
    disable_custom_kernels: bool = False
    json_output: bool = False
    otlp_endpoint: str | None = None
    cors_allow_origin: list[str] = field(default_factory=list)
    watermark_gamma: float | None = None
    watermark_delta: float | None = None


@dataclass
class FlexGenConfig:
    """FlexGen (seed 000): one ``flex_opt`` run per trial; prompt/gen length come from the workload.

    Sweep its options with ``engine.sweep``, e.g. ``{flexgen.num_gpu_batches: [4, 8, 16, 32]}``.
    """

    module: str = "flexgen.flex_opt"  # or e.g. a diagonal-schedule variant's module
    command: str | None = None  # a full command prefix instead of ``python -m <module>``
    model: str | None = None  # FlexGen's --model (e.g. facebook/opt-6.7b); None: model.path
    path: str | None = None  # --path: FlexGen's converted weights dir
    offload_dir: str | None = None
    gpu_batch_size: int = 4
    num_gpu_batches: int = 1
    percent: list[int] = field(default_factory=lambda: [100, 0, 100, 0, 100, 0])
    cut_gen_len: int | None = None
    pin_weight: bool | None = None
    cpu_cache_compute: bool = False
    compress_weight: bool = False
    compress_cache: bool = False
    overlap: bool | None = None
    sep_layer: bool | None = None
    attn_sparsity: float | None = None
    debug_mode: str | None = None


ENGINE_SECTIONS = ("tgi", "flexgen")
"""The option groups of one engine each (``engine.tgi``, ``engine.flexgen``): only the named
engine's group is part of a trial's resolved config."""


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
    command: str | None = None  # command engine: a per-trial command template (see engines/command.py)
    trial_timeout_s: float = 3600.0  # batch engines (command, FlexGen): one trial's run
    reuse: bool = True
    pipeline_parallel_size: int | None = None
    max_num_batched_tokens: int | None = None
    tokenizer: str | None = None
    download_dir: str | None = None
    kv_cache_dtype: str | None = None
    # the engine version the reproduced seed measured with (presets set it); the report says when
    # the running engine's version differs. Informational: not part of the trial id.
    reference_version: str | None = None
    tgi: TGIConfig = field(default_factory=TGIConfig)
    flexgen: FlexGenConfig = field(default_factory=FlexGenConfig)
    # engine-option sweep axes: dotted path under engine → values, e.g. {flexgen.num_gpu_batches: [4, 8]}
    sweep: dict[str, list[Any]] = field(default_factory=dict)


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
    max_send_delay_ms: float = 10.0  # send delay p99 above this marks the trial client_behind
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
    max_retries: int = 1  # an instance whose actor or node died is retried this often on fresh resources
    warm_workers: int = 8  # idle Ray workers kept per node (≤ max_concurrent_engines) for fast actor starts


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
class ReportConfig:
    """How ``python -m orchestrator.report`` computes its tables (``--percentiles`` overrides).

    ``percentiles``: ``linear`` (numpy's interpolation over sorted values, the default) or
    ``tgi_benchmark`` (text-generation-benchmark's ``data[int(p/100·n)]`` in run order, as seed
    001 was printed); see :mod:`workloads.percentiles`.
    """

    percentiles: str = "linear"


@dataclass
class ExperimentConfig:
    """The whole composed experiment."""

    name: str = "smoke"
    description: str = ""
    kind: str = "serving"  # serving: engine trials on Ray; planner: orchestrator.planner (no Ray)
    sweep_id: str | None = None
    results_dir: str = "results"
    dry_run: bool = False
    engine: EngineConfig = field(default_factory=EngineConfig)
    # several engines in one sweep (seed 003): conf/engine options, each composed with its overrides
    engines: list[str] = field(default_factory=list)
    engine_overrides: dict[str, list[str]] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
