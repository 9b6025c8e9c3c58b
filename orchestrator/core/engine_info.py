"""Short texts of what an engine instance really ran, from its recorded ``engine_info`` (pure).

The runner records it once the engine serves (``orchestrator.execution.engine_run``): the
tensor-parallel size its processes show, the executor backend, each rank's pid and cores (CPU) or
device (GPU), the engine version and its start-up time. The report's engine lines and the MLflow
tags are these texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _ids(values: Sequence[Any]) -> str:
    return ",".join(str(v) for v in values)


def rank_text(worker: Mapping[str, Any]) -> str:
    """``rank 0 pid 4242 cores 0`` (CPU) or ``rank 1 pid 4243 gpu 3`` (GPU)."""
    where = f"cores {_ids(worker['cores'])}" if "cores" in worker else f"gpu {worker.get('gpu')}"
    return f"rank {worker.get('rank')} pid {worker.get('pid')} {where}"


def workers_text(info: Mapping[str, Any]) -> str:
    """Every rank of the instance, ``; `` between them ('' when none was seen)."""
    return "; ".join(rank_text(w) for w in info.get("workers") or [])


def cores_text(info: Mapping[str, Any]) -> str:
    """The cores each rank was bound to, ``|`` between ranks: ``0|1`` ('' off CPU)."""
    return "|".join(_ids(r) for r in info.get("cpu_cores") or [])


def run_text(info: Mapping[str, Any]) -> str:
    """``TP 2 (mp executor), vllm 0.32.0, ready in 85.2 s; rank 0 pid ... cores 0; rank 1 ...``."""
    head = f"TP {info.get('tensor_parallel_size')} ({info.get('executor_backend') or 'default'} executor)"
    head += f", {info.get('engine', '?')} {info.get('engine_version', 'unknown')}"
    if isinstance(info.get("startup_s"), int | float):
        head += f", ready in {info['startup_s']:.1f} s"
    ranks = workers_text(info)
    return f"{head}; {ranks}" if ranks else f"{head}; no rank processes seen"
