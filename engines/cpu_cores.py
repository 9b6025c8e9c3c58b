"""Physical CPU cores for engine ranks on a CPU node: which exist, and a lease per engine instance.

Ray's ``CPU`` resource is a count, not a set of cores: it keeps the instances of a sweep from
asking for more cores than a node declares, but says nothing about *which* cores an engine may
bind. So each instance that binds its ranks to cores (vLLM on CPU) leases concrete cores on its
node here, machine-wide: one lock file per physical core under :data:`LOCK_DIR` (``flock``, so a
lock is released by the kernel when its last holder exits, never left stale), taken atomically for
the whole set under ``.alloc``. Two engines on one machine therefore never bind the same core,
whichever sweep, simulated Ray node or test started them.

The unit of allocation is a physical core (its SMT siblings are leased together); a rank is bound
to one logical CPU per leased core (the first sibling: one OpenMP thread per physical core, as
vLLM's own automatic binding does on x86), and the engine's whole process tree is confined to all
logical CPUs of its cores. The lease's file descriptors are handed to the engine's watchdog too
(``ManagedProcess(pass_fds=...)``), so the cores stay taken until the engine's process group is
gone, even if the Ray actor that leased them dies first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason

LOCK_DIR_ENV = "ORCH_CPU_CORE_LOCK_DIR"
LOCK_DIR = "/tmp/orch-cpu-cores"  # machine-wide: every sweep on this machine leases from it
SYSFS_CPU = Path("/sys/devices/system/cpu")
POLL_S = 0.25


@dataclass(frozen=True)
class Core:
    """One physical core: its usable logical CPUs (SMT siblings), first one first."""

    cpus: tuple[int, ...]
    package: int = 0

    @property
    def id(self) -> int:
        """The core's name in the lease: its first usable logical CPU."""
        return self.cpus[0]


def _read_ids(path: Path) -> list[int] | None:
    try:
        return parse_cpu_list(path.read_text())
    except (OSError, ValueError):
        return None


def parse_cpu_list(text: str) -> list[int]:
    """``"0-3,8,10-11"`` → ``[0, 1, 2, 3, 8, 10, 11]`` (the kernel's cpulist format)."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def format_cpu_list(cpus: Sequence[int]) -> str:
    return ",".join(str(c) for c in cpus)


def usable_cores(allowed: set[int] | None = None, sysfs: Path = SYSFS_CPU) -> list[Core]:
    """The physical cores this process may run on (``sched_getaffinity``: cgroup cpusets and
    ``taskset`` count), ordered by package and first logical CPU. Without topology in sysfs each
    logical CPU counts as a core."""
    allowed = set(os.sched_getaffinity(0)) if allowed is None else set(allowed)
    seen: set[int] = set()
    cores: list[Core] = []
    for cpu in sorted(allowed):
        if cpu in seen:
            continue
        topo = sysfs / f"cpu{cpu}" / "topology"
        siblings = _read_ids(topo / "thread_siblings_list") or [cpu]
        package = (_read_ids(topo / "physical_package_id") or [0])[0]
        mine = tuple(c for c in sorted(siblings) if c in allowed) or (cpu,)
        seen.update(mine)
        cores.append(Core(mine, package))
    return sorted(cores, key=lambda c: (c.package, c.id))


def core_count() -> int:
    """Usable physical cores of this machine (what a CPU node can bind engine ranks to)."""
    return len(usable_cores())


@dataclass
class CoreLease:
    """Cores leased by one engine instance: ``ranks[i]`` are the logical CPUs rank ``i`` binds."""

    cores: tuple[Core, ...]
    ranks: tuple[tuple[int, ...], ...]
    fds: list[int] = field(default_factory=list)
    waited_s: float = 0.0

    @property
    def cpus(self) -> tuple[int, ...]:
        """Every logical CPU of the leased cores: the engine's whole process tree runs on these."""
        return tuple(sorted(c for core in self.cores for c in core.cpus))

    def release(self) -> None:
        """Close this process's lock descriptors (a watchdog that inherited them keeps the cores
        until it exits)."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or LOCK_DIR)


def _open_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # shared by every user of the machine: sticky, world-writable
        os.chmod(path, 0o1777)


def _open_lock(path: Path) -> tuple[int, bool]:
    """The lock file's descriptor, and whether it is writable (another user's file may not be)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)  # whoever creates it: every user of the machine can lock it
    return fd, True


def _try_lock(path: Path) -> int | None:
    fd, writable = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if writable:  # the holder's pid, for the messages of engines waiting for the core
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def holders(directory: Path, cores: Sequence[Core]) -> dict[int, str]:
    """Core id → the pid written by its current holder (for messages; '' if unknown)."""
    out = {}
    for core in cores:
        path = directory / f"core-{core.id}.lock"
        fd = _try_lock(path) if path.exists() else None
        if fd is not None:
            os.close(fd)
            continue
        with contextlib.suppress(OSError):
            out[core.id] = path.read_text().strip()
    return out


def lease(
    ranks: int,
    per_rank: int,
    timeout_s: float,
    *,
    cores: Sequence[Core] | None = None,
    directory: Path | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> CoreLease:
    """Lease ``ranks × per_rank`` free physical cores of this machine, waiting up to ``timeout_s``
    while other engines hold them (``on_wait`` gets one message when the wait starts).

    EngineError(bad_config) at once when the machine has fewer usable cores than that (never an
    oversubscribed engine); EngineError(timeout) naming the holders when they stay taken.
    """
    cores = list(usable_cores() if cores is None else cores)
    need = ranks * per_rank
    if need > len(cores):
        raise EngineError(
            f"engine.tp: {ranks} rank(s) × engine.cpus={per_rank} core(s) need {need} physical cores, "
            f"but this node has {len(cores)} usable ({format_cpu_list([c.id for c in cores])}); "
            "lower engine.tp or engine.cpus, or run on a node with more cores",
            reason=FailureReason.BAD_CONFIG,
        )
    directory = lock_dir() if directory is None else directory
    _open_dir(directory)
    t0 = time.monotonic()
    told = False
    while True:
        got = _take(directory, cores, need)
        if got is not None:
            taken, fds = got
            per = [taken[i * per_rank : (i + 1) * per_rank] for i in range(ranks)]
            bound = tuple(tuple(c.cpus[0] for c in rank) for rank in per)
            return CoreLease(tuple(taken), bound, fds, round(time.monotonic() - t0, 3))
        held = holders(directory, cores)
        if time.monotonic() - t0 > timeout_s:
            raise EngineError(
                f"no {need} free CPU core(s) on this node after {timeout_s:.0f} s "
                f"(engine.startup_timeout_s): held by {_describe(held)}, another engine of this machine",
                reason=FailureReason.TIMEOUT,
            )
        if not told and on_wait is not None:
            on_wait(f"waiting for {need} free CPU core(s); held now by {_describe(held)}")
            told = True
        time.sleep(POLL_S)


def _describe(held: dict[int, str]) -> str:
    return ", ".join(f"core {c}: pid {p or '?'}" for c, p in sorted(held.items())) or "nobody (racing)"


def _take(directory: Path, cores: Sequence[Core], need: int) -> tuple[list[Core], list[int]] | None:
    """Under the allocation lock: the first ``need`` free cores, locked; None (nothing kept) if fewer."""
    alloc, _ = _open_lock(directory / ".alloc")
    try:
        fcntl.flock(alloc, fcntl.LOCK_EX)
        taken: list[Core] = []
        fds: list[int] = []
        for core in cores:
            fd = _try_lock(directory / f"core-{core.id}.lock")
            if fd is None:
                continue
            taken.append(core)
            fds.append(fd)
            if len(taken) == need:
                return taken, fds
        for fd in fds:
            os.close(fd)
        return None
    finally:
        os.close(alloc)  # closing the descriptor drops the flock
