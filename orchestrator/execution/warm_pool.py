"""Warm Ray workers, so that an engine actor starts in tens of milliseconds instead of a second.

Creating an actor makes the raylet start a new Python worker (importing Ray: ~0.6 s, plus ~0.25 s
of serialization set-up on its first task) unless an idle worker that never ran a task is there.
Ray 2.60 keeps no such pool for actors on its own, so the scheduler asks each node's raylet for
workers ahead of need (``NodeManagerService.PrestartWorkers``, the RPC Ray's own core worker uses)
and refills a node after each actor it creates there. For a cluster this tool starts, every worker
also runs :func:`warm_worker` at start-up (Ray's worker set-up hook variable, inherited from the
raylet), which moves the serialization set-up and the engine actor's imports off the actor's start.

Both are Ray internals: if the RPC fails (another Ray version, a secured cluster), the pool turns
itself off with one warning and actors start the ordinary way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

SETUP_HOOK_ENV = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"
SETUP_HOOK = "orchestrator.execution.warm_pool.warm_worker"
WARMED_ENV = "ORCH_WORKER_WARMED"  # set in a worker's environment once warm_worker ran
KEEP_ALIVE_S = 120  # an unused prestarted worker exits after this


def warm_worker() -> None:
    """Worker set-up hook: do at start-up what an engine actor's first call would do."""
    import ray

    import orchestrator.execution.actor  # noqa: F401  (the actor's module, unpickled on creation)

    ray._private.worker.global_worker.get_serialization_context()
    os.environ[WARMED_ENV] = "1"


class WarmPool:
    """Keeps ``per_node`` idle workers started on each node the scheduler uses."""

    def __init__(self, per_node: int) -> None:
        self.per_node = per_node
        self.enabled = per_node > 0
        self._stubs: dict[str, Any] = {}
        self._channels: list[Any] = []
        self._job_id = b""

    def start(self, nodes: Iterable[dict[str, Any]]) -> None:
        """Connect to each alive node's raylet and start ``per_node`` workers there."""
        if not self.enabled:
            return
        try:
            import ray
            from ray._private.grpc_utils import init_grpc_channel
            from ray.core.generated import node_manager_pb2_grpc

            self._job_id = ray._private.worker.global_worker.current_job_id.binary()
            for node in nodes:
                if node.get("Alive"):
                    address = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
                    channel = init_grpc_channel(address)
                    self._channels.append(channel)
                    self._stubs[node["NodeID"]] = node_manager_pb2_grpc.NodeManagerServiceStub(channel)
        except Exception as exc:  # a Ray without these internals
            self._off(exc)
            return
        for node_id in list(self._stubs):
            self.refill(node_id, self.per_node)

    def refill(self, node_id: str, count: int = 1) -> None:
        """Ask ``node_id``'s raylet to start ``count`` more idle workers (no-op when off)."""
        stub = self._stubs.get(node_id)
        if not self.enabled or stub is None or count <= 0:
            return
        try:
            from ray.core.generated import common_pb2, node_manager_pb2

            request = node_manager_pb2.PrestartWorkersRequest(  # type: ignore[attr-defined]
                language=common_pb2.Language.PYTHON,  # type: ignore[attr-defined]
                job_id=self._job_id,
                keep_alive_duration_secs=KEEP_ALIVE_S,
                num_workers=count,
            )
            request.runtime_env_info.serialized_runtime_env = "{}"  # actors here have no runtime env
            stub.PrestartWorkers(request, timeout=5)
        except Exception as exc:
            self._off(exc)

    def close(self) -> None:
        """Close the connections to the raylets (the workers already started stay)."""
        for channel in self._channels:
            channel.close()
        self._channels.clear()
        self._stubs.clear()

    def _off(self, exc: BaseException) -> None:
        self.enabled = False
        self.close()
        details = getattr(exc, "details", None)  # a gRPC error's own message
        message = details() if callable(details) else str(exc)
        log.warning(
            "warm worker pool off (%s: %s); engine actors start new Ray workers (~1 s each)",
            type(exc).__name__,
            (message or "").splitlines()[0] if message else "",
        )
