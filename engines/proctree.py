"""An engine's whole process tree, wherever its processes' groups are (Linux ``/proc``; pure reads).

Signalling an engine's process group does not reach a child that moved to its own group: TGI's
launcher starts every shard and its router with ``process_group(0)``, and a launcher that is
SIGKILLed (or slower to stop than our grace) leaves them running, holding GPU memory, sockets and
ports. Once orphaned they are no longer our descendants (init adopts them), so :class:`Tree` records
every descendant of the group while it is still one, by pid *and* start time, and
:meth:`Tree.signal_survivors` later signals only those still alive with the same start time (a pid
reused by an unrelated process is never touched; the signal goes through a pidfd opened before the
check where the kernel has them, so there is no window between check and kill).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass


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


class Tree:
    """The processes ever seen below process group ``pgid``: pid → start time (thread-safe).

    :meth:`snapshot` adds the group's current members and all their descendants and forgets the
    recorded ones that have exited; call it while the engine runs (periodically: a child may start
    at any time) and once more right before signalling.
    """

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()

    def snapshot(self) -> None:
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
