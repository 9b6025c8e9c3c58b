"""What an engine instance runs on, and what it really ran: its CPU core lease and the record of its ranks.

On CPU an instance whose ranks bind cores (vLLM) leases ``tp × per-rank`` physical cores of its
node (:mod:`engines.cpu_cores`): as many as Ray assigned its actor from the placement bundle
(``tp × engine.cpus``), so the count follows the bundle and the ids are the node's own, never
shared with another engine. Once the engine serves, :func:`ran_info` records what it really runs,
read from its live processes: tensor-parallel size, executor backend, each rank's pid and cores
(CPU) or device (GPU), the cores it is confined to and its shared-memory segments.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from engines.base import AnyEngine, Engine, LaunchSpec, binds_cores
from engines.cpu_cores import CoreLease, lease
from engines.process import ManagedProcess
from orchestrator.config.schema import EngineConfig
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason


def lease_cores(
    engine: AnyEngine, cfg: EngineConfig, device: str, tp: int, cpus: int | None, log_path: Path
) -> CoreLease | None:
    """The cores of an instance whose ranks bind them (None for any other): ``cpus`` (what Ray
    assigned the actor; None: ``tp × engine.cpus``) split evenly over its ``tp`` ranks.

    EngineError(bad_config) when there are fewer cores than ranks; waits (noted in the engine log)
    while another engine on the machine holds the cores, up to ``engine.startup_timeout_s``.
    """
    if not binds_cores(engine, device):
        return None
    total = tp * cfg.cpus if cpus is None else cpus
    per_rank = total // tp
    if per_rank < 1:
        raise EngineError(
            f"engine.tp: {tp} rank(s) but only {total} CPU(s) in the instance's bundle; each rank needs "
            "a core of its own (engine.cpus per rank): lower engine.tp",
            reason=FailureReason.BAD_CONFIG,
        )

    def note(text: str) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError), log_path.open("a") as log:
            log.write(f"orchestrator: {text}\n")

    got = lease(tp, per_rank, cfg.startup_timeout_s, on_wait=note)
    note(f"CPU cores leased: {', '.join(f'rank {i}: {list(r)}' for i, r in enumerate(got.ranks))} "
         f"(the engine runs on CPUs {list(got.cpus)})")  # fmt: skip
    return got


def ran_info(
    engine: Engine, cfg: EngineConfig, spec: LaunchSpec, process: ManagedProcess, cores: CoreLease | None
) -> dict[str, Any]:
    """The record of what the running engine is (merged into the instance's engine info)."""
    ran = engine.run_info(cfg, spec, process.processes())
    info: dict[str, Any] = {
        "tensor_parallel_size": ran.get("tensor_parallel_size", spec.tp),
        "executor_backend": ran.get("executor_backend"),
        "workers": ran.get("workers", []),
        "shm_segments": process.segments(),
    }
    if cores is not None:
        info["cpu_cores"] = [list(r) for r in cores.ranks]  # per rank, as bound
        info["cpu_affinity"] = list(cores.cpus)  # the whole engine's process tree
        info["core_wait_s"] = cores.waited_s
    if spec.device == "gpu":
        info["device_ids"] = list(spec.gpu_ids)
    return info
