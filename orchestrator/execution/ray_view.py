"""What Ray itself sees: alive nodes, and free GPUs that Ray has really taken back.

Removing a placement group returns its resources to Ray within ~0.1 s, but a group created before
that is queued and placed only ~0.5 s later (Ray 2.60, measured on this project's machines); the
scheduler therefore waits, briefly, until Ray shows the GPUs it is about to ask for as free.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import ray

POLL_S = 0.005


def alive_nodes() -> dict[str, tuple[float, float]]:
    """Node id → (GPUs, CPUs) of every alive node."""
    return {
        n["NodeID"]: (float(n["Resources"].get("GPU", 0)), float(n["Resources"].get("CPU", 0)))
        for n in ray.nodes()
        if n.get("Alive")
    }


def wait_free(gpus_by_node: Mapping[str, float], timeout_s: float = 1.0) -> bool:
    """Wait until Ray shows at least these free GPUs on each node; False if it did not in time
    (another job holds them, or the node is gone: the caller places anyway and Ray queues it)."""
    from ray._private.state import available_resources_per_node  # DeveloperAPI

    deadline = time.monotonic() + timeout_s
    while True:
        free = available_resources_per_node()
        if all(free.get(node, {}).get("GPU", 0.0) >= need for node, need in gpus_by_node.items()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
