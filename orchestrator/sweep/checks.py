"""The whole validation of a composed config, before Ray or any engine starts.

First the config's own fields (:func:`orchestrator.config.validate.validate_fields`), then what needs
more than the config: each engine's own options (``engine.sweep`` variants included), a ShareGPT
file or a trace read once, the TP sizes and the bundles' CPUs against the planned cluster, on CPU
the physical cores the ranks need against this machine's (only without ``ray.address``), fixed side
channels two co-located instances would share, and local model paths (only without ``ray.address``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from engines.base import binds_cores
from engines.cpu_cores import format_cpu_list, usable_cores
from engines.registry import get_engine
from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.validate import validate_fields
from orchestrator.core.errors import ConfigError
from orchestrator.core.load import Strategy
from orchestrator.sweep.colocation import check_side_channels
from orchestrator.sweep.engine_axes import engine_variants
from orchestrator.sweep.placement import NodeSpec, check_cpus, check_tp
from workloads.sharegpt import read_conversations, read_sessions
from workloads.trace import check_fits, read_trace


def validate(cfg: ExperimentConfig, engine_names: Iterable[str], nodes: Sequence[NodeSpec]) -> None:
    """Raise ConfigError (naming the field and the allowed values) for the first problem found."""
    validate_fields(cfg, engine_names)
    for variant, _ in engine_variants(cfg.engine):  # engine.sweep paths, then each engine's own checks
        get_engine(variant.name).validate(variant, cfg.model)
    d = cfg.workload.dataset
    if d.kind in ("sharegpt", "conversation") and d.path:
        try:
            (read_conversations if d.kind == "sharegpt" else read_sessions)(d.path)
        except ValueError as exc:
            raise ConfigError("workload.dataset.path", f"{d.path}: {str(exc).split(': ', 1)[-1]}") from None
    t = cfg.workload.trace
    if cfg.workload.name == Strategy.TRACE and t.path:  # ConfigError naming the line and the field
        rows = read_trace(t.path, t.format)[: cfg.workload.num_requests]
        check_fits(t.path, rows, cfg.model.max_model_len, t.max_input_len, t.max_output_len)
    for tp in cfg.engine.tp:
        check_tp(tp, nodes)
    check_cores(cfg, local=cfg.ray.address is None)
    for tp in cfg.engine.tp:
        check_cpus(cfg.engine, cfg.resources.device, tp, nodes)
    check_side_channels(cfg, nodes)  # a fixed port/socket path two co-located instances would share
    if cfg.ray.address is None:  # a local cluster: the driver sees the disk the engines read
        check_local_path("model.path", cfg.model.path)
        if cfg.engine.tokenizer:
            check_local_path("engine.tokenizer", cfg.engine.tokenizer)


def check_cores(cfg: ExperimentConfig, local: bool = True) -> None:
    """On CPU, ConfigError when an instance's ranks need more physical cores than this machine has
    (``local``: a local cluster runs on them): each rank gets engine.cpus cores of its own, never
    shared (:mod:`engines.cpu_cores`); and for vLLM's Ray executor, whose workers would have none."""
    e = cfg.engine
    if not binds_cores(get_engine(e.name), cfg.resources.device):
        return
    if e.distributed_executor_backend == "ray":  # its workers would be Ray actors: no cores of their own
        raise ConfigError("engine.distributed_executor_backend", "ray is not supported on CPU (the ranks "
                          "run as mp workers on leased cores); use mp or leave it null")  # fmt: skip
    if not local:
        return
    cores = usable_cores()
    for tp in e.tp:
        need = tp * e.cpus
        if need > len(cores):
            raise ConfigError(
                "engine.tp" if tp > len(cores) else "engine.cpus",
                f"on CPU, TP {tp} runs {tp} {e.name} rank(s) of engine.cpus={e.cpus} core(s) each: {need} "
                f"physical cores, but this machine has {len(cores)} usable "
                f"({format_cpu_list([c.id for c in cores])}); lower engine.tp (or engine.cpus), or run "
                "on GPUs (resources=gpu) or on a cluster with larger nodes (ray.address)",
            )


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id (``org/name``): absolute, ``./``, ``../``, ``~``,
    or more than one ``/``."""
    return path.startswith(("/", "./", "../", "~")) or path.count("/") > 1


def check_local_path(field: str, path: str) -> None:
    """A local-looking model path that does not exist fails now, not inside the engine later."""
    if path != "tiny" and looks_local(path) and not Path(path).expanduser().exists():
        raise ConfigError(
            field,
            f"local path '{path}' does not exist; give an existing model directory, a hub id "
            "(org/name), or 'tiny' for the locally built test model",
        )
