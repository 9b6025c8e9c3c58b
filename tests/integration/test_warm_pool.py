"""The warm worker pool on a real local Ray cluster: an engine-shaped actor (GPUs from its own
placement group) starts in a worker the pool started before it, and that worker ran the set-up hook."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import psutil
import pytest
import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from orchestrator.config.schema import RayConfig, ResourcesConfig
from orchestrator.execution.cluster import RayCluster
from orchestrator.execution.warm_pool import WARMED_ENV, WarmPool

pytestmark = pytest.mark.integration


class Probe:
    def where(self) -> tuple[int, bool]:
        return os.getpid(), os.environ.get(WARMED_ENV) == "1"


def idle_workers() -> set[int]:
    raylet = ray._private.worker.global_worker.node.all_processes["raylet"][0].process.pid
    found = set()
    for child in psutil.Process(raylet).children():
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "ray::IDLE" in cmd or "default_worker.py" in cmd:
            found.add(child.pid)
    return found


@pytest.fixture
def cluster() -> Iterator[RayCluster]:
    resources = ResourcesConfig(num_nodes=1, gpus_per_node=8, cpus_per_node=4)
    c = RayCluster(RayConfig(warm_workers=2), resources).open()
    try:
        yield c
    finally:
        c.close()


def test_actor_starts_in_a_prestarted_warm_worker(cluster: RayCluster) -> None:
    pool = WarmPool(2)
    pool.start(ray.nodes())
    assert pool.enabled, "the PrestartWorkers RPC failed"
    deadline = time.monotonic() + 60
    while len(idle_workers()) < 2:
        assert time.monotonic() < deadline, "the pool's workers did not start"
        time.sleep(0.2)
    time.sleep(3)  # let them finish the set-up hook (import + serialization context)
    before = idle_workers()
    pg = placement_group([{"GPU": 1, "CPU": 1}], strategy="STRICT_PACK")
    ray.get(pg.ready(), timeout=60)
    actor = (
        ray.remote(num_cpus=0)(Probe)
        .options(num_gpus=1, scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 0))
        .remote()
    )
    pid, warmed = ray.get(actor.where.remote(), timeout=60)
    ray.kill(actor)
    remove_placement_group(pg)
    assert pid in before, "the actor got a new worker, not a prestarted one"
    assert warmed, "the worker did not run orchestrator.execution.warm_pool.warm_worker"


def test_a_pool_that_cannot_reach_a_raylet_turns_itself_off(cluster: RayCluster) -> None:
    pool = WarmPool(2)
    node = {**ray.nodes()[0], "NodeManagerPort": 9}  # nothing listens there
    pool.start([node])
    assert not pool.enabled
    pool.refill(node["NodeID"])  # a no-op once off
