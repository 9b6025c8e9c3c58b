"""``engine.flexgen``: FlexGen's ``flex_opt`` options (seed 000).

A plain dataclass importing nothing from the project: its line in ``engines/catalog.py`` makes it
the group ``engine.flexgen`` of ``orchestrator.config.schema.EngineConfig`` (and so of the schema
``orchestrator.config.store`` registers in Hydra's ConfigStore).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
