"""One engine instance's own side channels: free ports and a short scratch directory.

An engine has internal endpoints besides its HTTP port (TGI's torch.distributed rendezvous, shard
sockets and Prometheus exporter; vLLM's internal ports and IPC sockets). Two instances on one node
with the same value cannot both start, so the runner gives each instance its own
(:func:`allocate`); ``orchestrator.sweep.colocation`` refuses a value fixed in the config when two
instances could meet on a node.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

from engines.process import free_port

SCRATCH_ROOT = "/tmp"  # short: a unix socket path must stay under 108 bytes (TGI adds -{rank})


@dataclass(frozen=True)
class SideChannels:
    """One engine instance's own endpoints for an engine's internal channels (torch.distributed
    rendezvous, metrics exporters, RPC/shard sockets), so that co-located instances never share one.

    ``ports``: free TCP ports on the instance's host, taken in order by the engine (TGI: master port,
    then Prometheus port; vLLM: ``VLLM_PORT``). ``scratch``: a short, per-instance directory for unix
    sockets and scratch files (AF_UNIX paths are limited to 108 bytes), created and removed by the
    runner.
    """

    ports: tuple[int, ...] = ()
    scratch: str | None = None

    def port(self, index: int) -> int | None:
        return self.ports[index] if index < len(self.ports) else None


SIDE_PORTS = 2  # ports the runner reserves per instance (the most any engine takes)


def allocate(host: str, engine: str, port: int, count: int = SIDE_PORTS) -> SideChannels:
    """Free ports (distinct from ``port`` and each other) and a fresh short scratch directory."""
    taken = {port}
    ports: list[int] = []
    while len(ports) < count:
        candidate = free_port(host)
        if candidate not in taken:
            taken.add(candidate)
            ports.append(candidate)
    scratch = tempfile.mkdtemp(prefix=f"orch-{engine}-{port}-", dir=SCRATCH_ROOT)
    return SideChannels(tuple(ports), scratch)


def release(side: SideChannels) -> None:
    """Remove the instance's scratch directory (its sockets are gone with the engine)."""
    if side.scratch:
        shutil.rmtree(side.scratch, ignore_errors=True)
