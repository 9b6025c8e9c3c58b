"""The Ray cluster: start a private local one (logical GPUs) or connect to ``ray.address``.

A local cluster gets its own short temp dir (so it never touches another Ray on the machine) and
is shut down, with its processes and temp dir, by ``close()``. A connected cluster is left alone.
Ray's banners, warnings and the workers' output reach the terminal only with ``verbose``
(``python -m orchestrator --verbose``): errors still come back to the driver as exceptions.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config.schema import RayConfig, ResourcesConfig
from orchestrator.execution.warm_pool import SETUP_HOOK, SETUP_HOOK_ENV
from orchestrator.sweep.placement import NodeSpec, local_cpus_per_node, planned_nodes


@dataclass
class RayCluster:
    ray_cfg: RayConfig
    resources: ResourcesConfig
    verbose: bool = False  # Ray's own logging and the workers' stdout/stderr on the driver
    started_local: bool = False
    temp_dir: str | None = None
    _cluster: Any = field(default=None, repr=False)
    _saved_tmpdir: str | None = field(default=None, repr=False)

    def open(self) -> RayCluster:
        import ray

        common: dict[str, Any] = {"namespace": self.ray_cfg.namespace, "log_to_driver": self.verbose}
        if not self.verbose:
            common["logging_level"] = logging.ERROR
        if self.ray_cfg.address:
            ray.init(address=self.ray_cfg.address, **common)
            return self
        self.temp_dir = self.ray_cfg.temp_dir or tempfile.mkdtemp(prefix="ray-", dir="/tmp")
        gpus = planned_nodes(self.resources)[0].gpus
        node_args: dict[str, Any] = {
            "num_cpus": local_cpus_per_node(self.resources),  # default: the machine's physical cores
            "num_gpus": gpus,
            "object_store_memory": self.resources.object_store_mb * 1024 * 1024,
        }
        self.started_local = True
        # Workers of a cluster started here warm up at start-up (orchestrator.execution.warm_pool): the
        # variable must be in the raylets' environment, which they inherit from this process.
        saved_hook = os.environ.get(SETUP_HOOK_ENV)
        if self.ray_cfg.warm_workers > 0:
            os.environ[SETUP_HOOK_ENV] = saved_hook or SETUP_HOOK
        try:
            self._start_local(self.temp_dir, node_args, common)
        finally:
            if saved_hook is None:
                os.environ.pop(SETUP_HOOK_ENV, None)
        return self

    def _start_local(self, temp_dir: str, node_args: dict[str, Any], common: dict[str, Any]) -> None:
        import ray

        if self.resources.num_nodes == 1:
            ray.init(
                address="local",
                include_dashboard=False,
                _temp_dir=temp_dir,
                _node_ip_address="127.0.0.1",
                **node_args,
                **common,
            )
            return
        from ray.cluster_utils import Cluster

        # Simulated multi-node cluster: every node shares this machine; Ray's default temp dir
        # (and its "current cluster" address file) is pointed at the private dir for its lifetime.
        # Its nodes use this machine's own address, not 127.0.0.1: a driver's ray.init rewrites
        # 127.0.0.1 to that address (Ray's resolve_ip_for_localhost), so loopback-only nodes are
        # unreachable. Traffic still never leaves the machine.
        os.makedirs(os.path.join(temp_dir, "ray"), exist_ok=True)
        self._saved_tmpdir = os.environ.get("RAY_TMPDIR")
        os.environ["RAY_TMPDIR"] = temp_dir
        self._cluster = Cluster(
            initialize_head=True, head_node_args={**node_args, "include_dashboard": False}
        )
        for _ in range(self.resources.num_nodes - 1):
            self._cluster.add_node(**node_args)
        self._cluster.wait_for_nodes()
        ray.init(address=self._cluster.address, **common)

    def nodes(self) -> list[NodeSpec]:
        """The alive nodes as Ray sees them."""
        import ray

        return [
            NodeSpec(int(n["Resources"].get("GPU", 0)), int(n["Resources"].get("CPU", 0)))
            for n in ray.nodes()
            if n.get("Alive")
        ]

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None
            if self._saved_tmpdir is None:
                os.environ.pop("RAY_TMPDIR", None)
            else:
                os.environ["RAY_TMPDIR"] = self._saved_tmpdir
        if self.started_local and self.temp_dir and not self.ray_cfg.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
