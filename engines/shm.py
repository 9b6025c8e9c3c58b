"""POSIX shared-memory segments (``/dev/shm``) of an engine's processes, and removing what they leave.

A multi-process engine talks through shared memory: vLLM's message queues between its engine core
and its workers (Python ``SharedMemory``, ``psm_<hex>``, unlinked by a resource tracker at exit),
its CPU all-reduce (C++ ``shm_open``, ``vllm_dist_<id>-tp:0-[0-1]-cpushm_<rank>``, which vLLM 0.32
leaves behind even on a graceful stop: it force-kills its workers) and loky's named semaphores
(``sem.loky-<pid>-<id>``). A killed engine leaves them all, hundreds of MB of RAM each. So the
engine's segments are recorded while it runs (:func:`segments_of`: what its processes map or hold
open, and the names that carry one of their pids) and, once its processes are gone, those still
present and used by no live process are unlinked (:func:`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

SHM_DIR = Path("/dev/shm")
DELETED = " (deleted)"
PID_NAMED = ("sem.loky-{pid}-",)  # segments named after the process that created them


def _shm_name(path: str) -> str | None:
    prefix = f"{SHM_DIR}/"
    if not path.startswith(prefix):
        return None
    name = path[len(prefix) :]
    name = name.removesuffix(DELETED)
    return name if name and "/" not in name else None


def mapped(pid: int) -> set[str]:
    """Names under /dev/shm that ``pid`` maps or holds open (empty if it is gone or not ours)."""
    names: set[str] = set()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            if "/dev/shm/" in line:
                name = _shm_name(line.split(None, 5)[-1].rstrip("\n"))
                if name:
                    names.add(name)
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                name = _shm_name(os.readlink(f"/proc/{pid}/fd/{fd}"))
                if name:
                    names.add(name)
    return names


def listing() -> list[str]:
    try:
        return os.listdir(SHM_DIR)
    except OSError:
        return []


def segments_of(pids: Iterable[int]) -> set[str]:
    """The /dev/shm segments of these processes: mapped or open, or named after one of them."""
    pids = list(pids)
    names: set[str] = set()
    for pid in pids:
        names |= mapped(pid)
    prefixes = tuple(p.format(pid=pid) for pid in pids for p in PID_NAMED)
    if prefixes:
        names |= {n for n in listing() if n.startswith(prefixes)}
    return names


def in_use(names: Iterable[str]) -> set[str]:
    """Which of ``names`` some live process (that we can read) still maps or holds open."""
    wanted = set(names)
    used: set[str] = set()
    if not wanted:
        return used
    for entry in os.listdir("/proc"):
        if entry.isdigit() and entry != str(os.getpid()):
            used |= mapped(int(entry)) & wanted
    return used


def existing(names: Iterable[str]) -> set[str]:
    present = set(listing())
    return {n for n in names if n in present}


def remove_leftovers(names: Iterable[str]) -> list[str]:
    """Unlink the recorded segments still in /dev/shm that no live process uses; the names removed.

    Call it once the engine's processes are gone: a segment one of them still maps is kept.
    """
    left = existing(names)
    removed = []
    for name in sorted(left - in_use(left)):
        if re.fullmatch(r"[^/\x00]+", name):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                (SHM_DIR / name).unlink()
                removed.append(name)
    return removed
