"""Placement (pure): placement-group bundles and strategy per TP size, feasibility, ordering.

A TP group that fits in one node is one bundle ``{"GPU": tp, "CPU": c}`` with STRICT_PACK. A TP group
larger than a node takes whole nodes: one bundle per node with STRICT_SPREAD, as vLLM's Ray
executor expects; TP must then be a multiple of the node's GPU count. The bundle's CPUs are
``engines.base.bundle_cpus``: ``tp × engine.cpus`` where the ranks bind CPU cores of their own
(vLLM on CPU), else ``engine.cpus``; a bundle larger than a node's CPUs is refused before anything
starts. A local cluster's nodes have ``resources.cpus_per_node`` CPUs, by default this machine's
usable physical cores (split among simulated nodes, which share them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from engines.base import bundle_cpus
from engines.cpu_cores import core_count
from engines.registry import get_engine
from orchestrator.config.schema import EngineConfig, ResourcesConfig
from orchestrator.core.errors import PlacementError

ALLOWED_TP = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class NodeSpec:
    gpus: int
    cpus: int


@dataclass(frozen=True)
class PlacementPlan:
    bundles: tuple[dict[str, float], ...]
    strategy: str

    @property
    def gpus(self) -> int:
        return int(sum(b.get("GPU", 0) for b in self.bundles))

    def gpus_by_node(self, nodes: Sequence[str]) -> dict[str, float]:
        """GPUs this plan takes on each node, its bundles placed on ``nodes`` (same order)."""
        need: dict[str, float] = {}
        for bundle, node in zip(self.bundles, nodes, strict=True):
            need[node] = need.get(node, 0.0) + bundle.get("GPU", 0.0)
        return need


def plan_for(tp: int, cpus: int, nodes: Sequence[NodeSpec]) -> PlacementPlan:
    """Bundles for one engine instance of ``tp`` GPUs on a cluster of ``nodes``."""
    check_tp(tp, nodes)
    max_node = max(n.gpus for n in nodes)
    if tp <= max_node:
        return PlacementPlan(({"GPU": float(tp), "CPU": float(cpus)},), "STRICT_PACK")
    per_node = max_node
    return PlacementPlan(
        tuple({"GPU": float(per_node), "CPU": float(cpus)} for _ in range(tp // per_node)), "STRICT_SPREAD"
    )


def instance_cpus(engine: EngineConfig, device: str, tp: int) -> int:
    """CPUs in the bundle of an instance of ``engine`` at ``tp`` (:func:`engines.base.bundle_cpus`)."""
    return bundle_cpus(get_engine(engine.name), engine, device, tp)


def instance_plan(engine: EngineConfig, device: str, tp: int, nodes: Sequence[NodeSpec]) -> PlacementPlan:
    """The placement plan of one engine instance (its bundle CPUs from the engine)."""
    return plan_for(tp, instance_cpus(engine, device, tp), nodes)


def check_cpus(engine: EngineConfig, device: str, tp: int, nodes: Sequence[NodeSpec]) -> None:
    """PlacementError when an instance's bundle asks for more CPUs than a node has (it would wait
    for placement forever)."""
    cpus = instance_cpus(engine, device, tp)
    most = max((n.cpus for n in nodes), default=0)
    if cpus <= most:
        return
    if cpus != engine.cpus:  # tp ranks × engine.cpus cores each
        why = f"TP {tp} runs {tp} rank(s) of engine.cpus={engine.cpus} core(s) each: {cpus} CPUs"
        fix = "lower engine.tp or engine.cpus, or use more cores per node (resources.cpus_per_node)"
        raise PlacementError("engine.tp" if tp > most else "engine.cpus",
                             f"{why}, but nodes have at most {most}; {fix}")  # fmt: skip
    raise PlacementError("engine.cpus", f"{cpus} CPUs per instance, but nodes have at most {most} "
                         "(resources.cpus_per_node); lower engine.cpus")  # fmt: skip


def check_instance(engine: EngineConfig, device: str, tp: int, nodes: Sequence[NodeSpec]) -> None:
    """PlacementError when an instance of ``engine`` at ``tp`` can never be placed on ``nodes``:
    its TP (:func:`check_tp`) or its bundle's CPUs (:func:`check_cpus`)."""
    check_tp(tp, nodes)
    check_cpus(engine, device, tp, nodes)


def check_tp(tp: int, nodes: Sequence[NodeSpec], field: str = "engine.tp") -> None:
    """Raise PlacementError unless ``tp`` GPUs can be held by one engine on this cluster."""
    if tp not in ALLOWED_TP:
        raise PlacementError(field, f"tensor-parallel size {tp} is not supported", ALLOWED_TP)
    if not nodes:
        raise PlacementError(field, "the cluster has no nodes")
    sizes = sorted((n.gpus for n in nodes), reverse=True)
    if tp <= sizes[0]:
        return
    per_node = sizes[0]
    if per_node == 0:
        raise PlacementError(
            field,
            f"TP {tp} cannot be placed: the cluster has no GPUs (resources.device=cpu uses logical GPUs; "
            "on a GPU-less machine pass ray.address of a GPU cluster or set resources.gpus_per_node)",
        )
    full_nodes = sum(1 for s in sizes if s == per_node)
    if tp % per_node or tp // per_node > full_nodes:
        raise PlacementError(
            field,
            f"TP {tp} cannot be placed: nodes have {sizes} GPUs; a TP group larger than a node needs "
            f"{-(-tp // per_node)} whole nodes of {per_node} GPUs. "
            "Lower TP or add nodes (resources.num_nodes)",
        )


def detect_local_gpus() -> int:
    """Number of NVIDIA GPUs on this machine (0 without a driver)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def local_cpus_per_node(resources: ResourcesConfig) -> int:
    """``resources.cpus_per_node``, or this machine's usable physical cores shared out among the
    simulated nodes (at least 1 each)."""
    if resources.cpus_per_node is not None:
        return resources.cpus_per_node
    return max(1, core_count() // resources.num_nodes)


def planned_nodes(resources: ResourcesConfig) -> list[NodeSpec]:
    """The nodes a local cluster will have (used to validate before anything starts)."""
    gpus = resources.gpus_per_node if resources.gpus_per_node is not None else detect_local_gpus()
    return [NodeSpec(gpus, local_cpus_per_node(resources)) for _ in range(resources.num_nodes)]
