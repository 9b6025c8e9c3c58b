"""Typed configuration: one dataclass per config group, composed by Hydra.

Lists are sweep axes (``engine.tp``, ``workload.concurrency``, ``workload.input_len``,
``workload.output_len``); everything else is fixed for a sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engines.catalog import option_groups, with_option_groups
from orchestrator.config.planner import PlannerConfig
from orchestrator.config.search import SearchConfig


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
    # CPUs in an instance's placement bundle; where the ranks run on CPU cores (vLLM on CPU) the
    # cores of each rank: the bundle then holds tp × cpus and each rank is bound to its own
    cpus: int = 1
    startup_timeout_s: float = 600.0
    command: str | None = None  # command engine: a per-trial command template (see engines/command/engine.py)
    trial_timeout_s: float = 3600.0  # batch engines (command, FlexGen): one trial's run
    reuse: bool = True
    pipeline_parallel_size: int | None = None
    # vLLM's --distributed-executor-backend (mp, uni, ray); null: on CPU mp for TP > 1, on GPU vLLM's own
    distributed_executor_backend: str | None = None
    max_num_batched_tokens: int | None = None
    tokenizer: str | None = None
    download_dir: str | None = None
    kv_cache_dtype: str | None = None
    # the engine version the reproduced seed measured with (presets set it); the report says when
    # the running engine's version differs. Informational: not part of the trial id.
    reference_version: str | None = None
    # here: the option group of each engine that has options (engine.tgi, engine.flexgen, ...),
    # from engines/catalog.py; an engine reads its own with catalog.options(cfg, TGIConfig)
    # engine-option sweep axes: dotted path under engine → values, e.g. {flexgen.num_gpu_batches: [4, 8]}
    sweep: dict[str, list[Any]] = field(default_factory=dict)


if not TYPE_CHECKING:  # mypy sees the common fields; an engine reads its group with options()
    EngineConfig = with_option_groups(EngineConfig)

ENGINE_SECTIONS = tuple(option_groups())
"""The option groups of one engine each (``engine.tgi``, ``engine.flexgen``): only the named
engine's group is part of a trial's resolved config."""


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
    ShareGPT-format JSON at ``path``), ``shared_prefix`` (``num_prefixes`` distinct prefixes of
    ``prefix_len`` tokens, total length exactly input_len) or ``conversation`` (multi-turn sessions
    of ``turns`` turns, ``think_time_s`` between a response and the next turn: synthetic, or the
    full conversations of the ShareGPT JSON at ``path``; see docs/workloads.md)."""

    kind: str = "random"
    path: str | None = None
    prefix_len: int = 0
    num_prefixes: int = 1
    turns: int = 4
    think_time_s: float = 0.0


@dataclass
class TraceConfig:
    """``workload=trace``: the trace file to replay (``format``: ``auto`` by extension, ``jsonl``
    (Mooncake's fields or ours), ``mooncake``, ``azure`` CSV), its gaps multiplied by
    ``time_scale`` (0.5 = twice as fast); ``block_size`` tokens per ``hash_ids`` entry. The rows'
    own lengths are sent, clipped to ``max_input_len`` / ``max_output_len`` where set
    (``workload.input_len`` / ``output_len`` do not apply)."""

    path: str | None = None
    format: str = "auto"
    time_scale: float = 1.0
    block_size: int = 512
    max_input_len: int | None = None
    max_output_len: int | None = None


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
    trace: TraceConfig = field(default_factory=TraceConfig)
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
    # Ray CPUs per node; None: this machine's usable physical cores (shared by simulated nodes), so
    # on CPU the cores engine ranks need are what limits the instances running at once
    cpus_per_node: int | None = None
    object_store_mb: int = 256


@dataclass
class RayConfig:
    """``address: null`` starts a private local cluster; ``auto`` or ``host:port`` connects."""

    address: str | None = None
    temp_dir: str | None = None
    namespace: str = "llm-orchestrator"
    # engine instances running at once; None: as many as the cluster holds (GPUs free, and on CPU
    # the cores their ranks need); 1: one after another
    max_concurrent_engines: int | None = None
    max_retries: int = 1  # an instance whose actor or node died is retried this often on fresh resources
    warm_workers: int = 8  # idle Ray workers kept per node (≤ max_concurrent_engines) for fast actor starts
    exclusive_nodes: bool = False  # no two measurement windows at once on a node (start-ups may overlap)


@dataclass
class TrackingConfig:
    """``uri: null`` starts a local MLflow server on 127.0.0.1 for the run; ``keep_server``: keep
    that server up at the end until Enter/Ctrl-C (true), stop it (false), or only on a terminal (null)."""

    enabled: bool = True
    uri: str | None = None
    experiment: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    keep_server: bool | None = None
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
class StatsConfig:
    """Repeats and their statistics (``repeats`` > 1): run order, engine restarts, intervals, drift.

    ``restart``: ``warm`` runs a configuration's repeats on one engine (its trials' repeats
    interleaved there); ``cold`` restarts the engine between repeats (one instance per engine group
    and round, the rounds of all groups interleaved). ``level``: of the bootstrap intervals and the
    significance of ratios. ``max_cv``: a trial whose repeats' coefficient of variation exceeds it
    on a headline metric is flagged ``unstable``. ``seed``: the shuffle of the run order and the
    bootstrap resampling.
    """

    level: float = 0.95
    seed: int = 0
    restart: str = "warm"
    max_cv: float = 0.1
    resamples: int = 10_000


@dataclass
class CostConfig:
    """``gpu_hour_usd``: the price of one GPU-hour; set, each trial gets $ per million output tokens."""

    gpu_hour_usd: float | None = None


@dataclass
class ExperimentConfig:
    """The whole composed experiment."""

    name: str = "smoke"
    description: str = ""
    kind: str = "serving"  # serving: engine trials on Ray; planner: orchestrator.planner (no Ray)
    sweep_id: str | None = None
    results_dir: str = "results"
    dry_run: bool = False
    repeats: int = 1  # runs of every trial (> 1: mean and confidence interval per metric, see stats)
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
    stats: StatsConfig = field(default_factory=StatsConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    search: SearchConfig = field(default_factory=SearchConfig)  # search=slo: docs/search.md
