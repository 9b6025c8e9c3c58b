"""An engine's whole process tree, wherever its processes' groups are (Linux ``/proc``; pure reads).

Signalling an engine's process group does not reach a child that moved to its own group: TGI's
launcher starts every shard and its router with ``process_group(0)``, and a launcher that is
SIGKILLed (or slower to stop than our grace) leaves them running, holding GPU memory, sockets and
ports. Once orphaned they are no longer our descendants (init adopts them), so :class:`Tree` records
every descendant of the group while it is still one, by pid *and* start time, and
:meth:`Tree.signal_survivors` later signals only those still alive with the same start time (a pid
reused by an unrelated process is never touched; the signal goes through a pidfd opened before the
check where the kernel has them, so there is no window between check and kill). With
``snapshot(segments=True)`` it also records the tree's shared-memory segments (:mod:`engines.shm`),
which the stopper removes once the processes are gone; :func:`describe` reads what a process is (its
title, the CPUs its threads may run on, its rank variables) for the record of what an engine ran.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from engines import shm
from engines.cpu_cores import parse_cpu_list


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    start: int  # clock ticks after boot: with the pid, names one process for good
    zombie: bool


def _stat(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[19]), fields[0] in ("Z", "X"))


def table() -> dict[int, Proc]:
    """Every process on the host, by pid."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := _stat(int(entry))) is not None:
            out[proc.pid] = proc
    return out


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    return sorted(p.pid for p in table().values() if p.pgid == pgid and not p.zombie)


def descendants(roots: Iterable[int], procs: dict[int, Proc]) -> set[int]:
    """Live descendants of ``roots`` (not the roots themselves), in any process group."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    out: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return {pid for pid in out if not procs[pid].zombie}


def start_time(pid: int) -> int | None:
    proc = _stat(pid)
    return None if proc is None or proc.zombie else proc.start


def signal_verified(pid: int, start: int, sig: int) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the process that started at ``start``."""
    fd = None
    with contextlib.suppress(AttributeError, OSError):
        fd = os.pidfd_open(pid)  # Linux 5.3+: the signal then reaches the checked process only
    try:
        if start_time(pid) != start:
            return False
        if fd is not None:
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        if fd is not None:
            os.close(fd)


RANK_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class ProcInfo:
    """One live process of an engine: its command line (or title), the logical CPUs any of its
    threads may run on, and its rank variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) if set."""

    pid: int
    ppid: int
    cmdline: str
    cpus: tuple[int, ...]
    env: dict[str, str] = field(default_factory=dict)


def _thread_cpus(pid: int) -> tuple[int, ...]:
    cpus: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return ()
    for tid in tids:
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    cpus.update(parse_cpu_list(line.split(":", 1)[1]))
                    break
    return tuple(sorted(cpus))


def describe(pid: int) -> ProcInfo | None:
    """What ``pid`` is now (None once it is gone)."""
    proc = _stat(pid)
    if proc is None or proc.zombie:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None
    env: dict[str, str] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/environ", "rb") as f:
        for item in f.read().split(b"\0"):
            key, _, value = item.decode("utf-8", "replace").partition("=")
            if key in RANK_ENV:
                env[key] = value
    return ProcInfo(pid, proc.ppid, cmdline, _thread_cpus(pid), env)


class Tree:
    """The processes ever seen below process group ``pgid``: pid → start time (thread-safe).

    :meth:`snapshot` adds the group's current members and all their descendants and forgets the
    recorded ones that have exited; call it while the engine runs (periodically: a child may start
    at any time) and once more right before signalling.
    """

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._seen: dict[int, int] = {}
        self._shm: set[str] = set()
        self._lock = threading.Lock()

    def snapshot(self, segments: bool = False) -> None:
        """Record the group's members and descendants; with ``segments``, their shared-memory segments
        too (reads every member's memory map: at readiness and right before a stop, not every second)."""
        procs = table()
        members = [p.pid for p in procs.values() if p.pgid == self.pgid and not p.zombie]
        found = {pid: procs[pid].start for pid in (*members, *descendants(members, procs))}
        with self._lock:
            alive = {
                pid: start
                for pid, start in self._seen.items()
                if pid in procs and procs[pid].start == start and not procs[pid].zombie
            }
            self._seen = {**alive, **found}
            pids = list(self._seen)
        if segments:
            names = shm.segments_of(pids)
            with self._lock:
                self._shm |= names

    def segments(self) -> set[str]:
        """Every shared-memory segment recorded for the tree (some may be gone by now)."""
        with self._lock:
            return set(self._shm)

    def remove_leftover_shm(self) -> list[str]:
        """Unlink the recorded segments still present that no live process uses (call it once the
        tree is gone)."""
        return shm.remove_leftovers(self.segments())

    def processes(self) -> list[ProcInfo]:
        """The recorded processes still alive, described (:func:`describe`), by pid."""
        out = []
        for pid, start in sorted(self.recorded().items()):
            info = describe(pid)
            if info is not None and start_time(pid) == start:
                out.append(info)
        return out

    def recorded(self) -> dict[int, int]:
        with self._lock:
            return dict(self._seen)

    def survivors(self, outside_group: bool = True) -> list[int]:
        """Recorded processes still alive (same start time); by default only those in other groups."""
        procs = table()
        return sorted(
            pid
            for pid, start in self.recorded().items()
            if pid in procs
            and procs[pid].start == start
            and not procs[pid].zombie
            and not (outside_group and procs[pid].pgid == self.pgid)
        )

    def signal_survivors(self, sig: int, outside_group: bool = True) -> list[int]:
        """Signal the survivors (:meth:`survivors`); the pids signalled."""
        recorded = self.recorded()
        return [pid for pid in self.survivors(outside_group) if signal_verified(pid, recorded[pid], sig)]
