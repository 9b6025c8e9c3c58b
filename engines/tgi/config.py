"""``engine.tgi``: text-generation-launcher's options (seed 001).

A plain dataclass importing nothing from the project: its line in ``engines/catalog.py`` makes it
the group ``engine.tgi`` of ``orchestrator.config.schema.EngineConfig`` (and so of the schema
``orchestrator.config.store`` registers in Hydra's ConfigStore).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TGIConfig:
    """text-generation-launcher arguments (seed 001). None/false/empty → the flag is omitted.

    ``shard_uds_path``, ``master_addr``, ``master_port``, ``prometheus_port``: None gives each engine
    instance its own (a free port, a per-instance socket path); a set value is only allowed when no
    two instances can share a node (orchestrator/sweep/colocation.py).
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
