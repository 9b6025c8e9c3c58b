"""Which processes listen on a TCP port (Linux ``/proc``; pure reads).

Readiness asks the port, not the process: ``/health`` and ``/v1/models`` answer the same for any
server of the same model, so an engine whose own bind failed could be declared ready by another
instance's server on that port and measured against it. After readiness the runner checks that the
listening socket on the engine's port is held by a process of the engine's own tree
(:func:`listeners`); where the socket cannot be seen here (another network namespace), the check
says so instead of passing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

PROC_NET = ("/proc/net/tcp", "/proc/net/tcp6")
LISTEN = "0A"  # the TCP_LISTEN state in /proc/net/tcp


def listening_inodes(port: int, tables: Iterable[str] = PROC_NET) -> set[int]:
    """The socket inodes listening on ``port`` (any address) in this network namespace."""
    out: set[int] = set()
    for path in tables:
        with contextlib.suppress(OSError), open(path) as f:
            next(f, None)  # the header
            for line in f:
                fields = line.split()
                if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    out.add(int(fields[9]))
    return out


def socket_inodes(pid: int) -> set[int]:
    """The socket inodes ``pid`` holds open (empty if it is gone or not ours to read)."""
    out: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                out.add(int(target[8:-1]))
    return out


def listeners(port: int, pids: Iterable[int] | None = None) -> list[int] | None:
    """The processes holding a socket that listens on ``port``: those of ``pids``, or with none
    given every process on this host. None when nothing listens on the port in this network
    namespace (the table is read once)."""
    inodes = listening_inodes(port)
    if not inodes:
        return None
    candidates = (int(e) for e in os.listdir("/proc") if e.isdigit()) if pids is None else pids
    return sorted(pid for pid in candidates if socket_inodes(pid) & inodes)
