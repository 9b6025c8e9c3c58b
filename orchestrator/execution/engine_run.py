"""What an engine instance runs on, and what it really ran: its CPU core lease and the record of its ranks.

On CPU an instance whose ranks bind cores (vLLM) leases ``tp × per-rank`` physical cores of its
node (:mod:`engines.cpu_cores`): as many as Ray assigned its actor from the placement bundle
(``tp × engine.cpus``), so the count follows the bundle and the ids are the node's own, never
shared with another engine. Once the engine serves, :func:`ran_info` records what it really runs,
read from its live processes: tensor-parallel size, executor backend, each rank's pid and cores
(CPU) or device (GPU), the cores it is confined to and its shared-memory segments.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engines.base import AnyEngine, Engine, LaunchSpec, binds_cores
from engines.cpu_cores import CoreLease, lease
from engines.ports import listeners
from engines.process import ManagedProcess, log_note, tail
from engines.proctree import ProcInfo, describe
from orchestrator.config.schema import EngineConfig
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason
from orchestrator.core.validity import Flag, FlagKind


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
        log_note(log_path, "orchestrator", text)

    got = lease(tp, per_rank, cfg.startup_timeout_s, on_wait=note)
    note(f"CPU cores leased: {', '.join(f'rank {i}: {list(r)}' for i, r in enumerate(got.ranks))} "
         f"(the engine runs on CPUs {list(got.cpus)})")  # fmt: skip
    return got


def port_listener(spec: LaunchSpec, process: ManagedProcess, procs: Sequence[ProcInfo]) -> int | None:
    """The engine's own process (among its live ``procs``) listening on its HTTP port. Raises
    EngineError(port_in_use) when the port's listener is another process: readiness was answered by
    another server (the engine's own bind failed) and nothing from this engine would be measured.
    None for an engine run in a container (a stop command: its processes are not in this tree) or a
    socket not visible here."""
    if process.stop_argv:
        return None
    mine = listeners(spec.port, [p.pid for p in procs])
    if mine is None:
        return None
    if mine:
        return mine[0]
    others = listeners(spec.port)  # the whole host: only to name who answered
    other = others[0] if others else None
    who = describe(other) if other is not None else None
    raise EngineError(
        f"port {spec.port} answered readiness, but the process listening on it is pid {other} "
        f"({who.cmdline[:120] if who else 'not readable'}), not this engine's: its own bind failed "
        "or it listens elsewhere; not measured (a port taken between its choice and the engine's bind)",
        reason=FailureReason.PORT_IN_USE,
        log_tail=tail(process.log_path),
    )


RANK_SCAN_TRIES = 6  # an engine that shows its ranks but showed none: rescan (0.5 s apart) before recording
RANK_SCAN_WAIT_S = 0.5


def scan_ranks(
    engine: Engine,
    cfg: EngineConfig,
    spec: LaunchSpec,
    process: ManagedProcess,
    procs: Sequence[ProcInfo] | None = None,
) -> dict[str, Any]:
    """``engine.run_info`` over the live process tree (``procs``: a scan already made). An engine that
    shows one process per rank (``Engine.shows_ranks``) but showed none is scanned again a few times
    (a title not set yet); still none, the record lists the processes it saw. The one cause found
    so far, a lost setproctitle title, is prevented at launch (``engines.process.ENGINE_LOG_ENV``)."""
    shows = engine.shows_ranks(cfg)
    procs = process.processes() if procs is None else procs
    ran = engine.run_info(cfg, spec, procs)
    scans = 1
    while shows and not ran.get("workers") and scans < RANK_SCAN_TRIES and process.alive():
        time.sleep(RANK_SCAN_WAIT_S)
        procs = process.processes()
        ran = engine.run_info(cfg, spec, procs)
        scans += 1
    ran.update(shows_ranks=shows, rank_scans=scans)
    if shows and not ran.get("workers"):
        ran["processes_seen"] = [f"{p.pid} {p.cmdline[:80]}" for p in procs]
    return ran


def ran_info(
    engine: Engine, cfg: EngineConfig, spec: LaunchSpec, process: ManagedProcess, cores: CoreLease | None
) -> dict[str, Any]:
    """The record of what the running engine is (merged into the instance's engine info)."""
    procs = process.processes()
    listener = port_listener(spec, process, procs)  # first: another server's readiness is no engine to scan
    ran = scan_ranks(engine, cfg, spec, process, procs)
    info: dict[str, Any] = {
        "tensor_parallel_size": ran.get("tensor_parallel_size", spec.tp),
        "executor_backend": ran.get("executor_backend"),
        "workers": ran.get("workers", []),
        "shows_ranks": ran["shows_ranks"],
        "rank_scans": ran["rank_scans"],
        **({"processes_seen": ran["processes_seen"]} if "processes_seen" in ran else {}),
        "shm_segments": process.segments(),
        "port_listener": listener,  # the engine's pid on its HTTP port (None: in a container / not seen)
    }
    if cores is not None:
        info["cpu_cores"] = [list(r) for r in cores.ranks]  # per rank, as bound
        info["cpu_affinity"] = list(cores.cpus)  # the whole engine's process tree
        info["core_wait_s"] = cores.waited_s
    if spec.device == "gpu":
        info["device_ids"] = list(spec.gpu_ids)
    return info


def ranks_flags(info: dict[str, Any], placed_tp: int) -> list[Flag]:
    """``ranks_mismatch`` when an engine that shows its ranks (``info["shows_ranks"]``) showed another
    number of rank processes than the ``placed_tp`` it was launched with: the figures would not be a
    TP ``placed_tp`` measurement (pure)."""
    seen = len(info.get("workers") or [])
    if not info.get("shows_ranks") or seen == placed_tp:
        return []
    return [Flag(FlagKind.RANKS_MISMATCH, f"launched with TP {placed_tp}, its processes showed {seen} "
                f"rank(s) after {info.get('rank_scans', 1)} scan(s)")]  # fmt: skip
