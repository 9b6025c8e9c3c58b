"""The driver's model of free cluster capacity (pure): which engine instance can start now.

Groups are tried largest TP first (longest expected first within a TP, when earlier sweeps tell how
long they take); a smaller one may backfill GPUs that the next large one cannot use yet. Capacity
is reserved on submission with a first-fit guess and corrected to the nodes Ray actually chose once
the placement group is ready.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.core.trial import Trial
from orchestrator.sweep.placement import NodeSpec, PlacementPlan


@dataclass
class Capacity:
    """Free GPUs and CPUs per node id."""

    gpus: dict[str, float] = field(default_factory=dict)
    cpus: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_nodes(cls, nodes: Mapping[str, tuple[float, float]]) -> Capacity:
        """``nodes``: node id → (GPUs, CPUs)."""
        return cls({n: g for n, (g, _) in nodes.items()}, {n: c for n, (_, c) in nodes.items()})

    def fit(self, plan: PlacementPlan) -> list[str] | None:
        """Node ids (one per bundle) where the plan fits now, first fit; None if it does not."""
        chosen: list[str] = []
        for bundle in plan.bundles:
            node = next(
                (
                    n
                    for n in sorted(self.gpus)
                    if n not in chosen or plan.strategy != "STRICT_SPREAD"
                    if self._free_after(n, chosen, plan, "GPU") >= bundle.get("GPU", 0)
                    and self._free_after(n, chosen, plan, "CPU") >= bundle.get("CPU", 0)
                ),
                None,
            )
            if node is None:
                return None
            chosen.append(node)
        return chosen

    def _free_after(self, node: str, chosen: Sequence[str], plan: PlacementPlan, kind: str) -> float:
        pool = self.gpus if kind == "GPU" else self.cpus
        used = sum(b.get(kind, 0) for b, n in zip(plan.bundles, chosen, strict=False) if n == node)
        return pool.get(node, 0) - used

    def take(self, plan: PlacementPlan, nodes: Sequence[str]) -> None:
        self._apply(plan, nodes, -1)

    def release(self, plan: PlacementPlan, nodes: Sequence[str]) -> None:
        self._apply(plan, nodes, +1)

    def _apply(self, plan: PlacementPlan, nodes: Sequence[str], sign: int) -> None:
        for bundle, node in zip(plan.bundles, nodes, strict=True):
            if node in self.gpus:
                self.gpus[node] += sign * bundle.get("GPU", 0)
                self.cpus[node] += sign * bundle.get("CPU", 0)

    def drop_node(self, node: str) -> None:
        self.gpus.pop(node, None)
        self.cpus.pop(node, None)


def at_once(plans: Sequence[PlacementPlan], nodes: Sequence[NodeSpec], limit: int | None = None) -> int:
    """How many of these instances can hold their bundles at the same time, at most ``limit``
    (``ray.max_concurrent_engines``; the live view's ETA): smallest first, each placed first fit on
    ``nodes`` by :meth:`Capacity.fit`."""
    capacity = Capacity.from_nodes({f"node-{i:04d}": (n.gpus, n.cpus) for i, n in enumerate(nodes)})
    count = 0
    for plan in sorted(plans, key=lambda p: (p.gpus, len(p.bundles))):
        chosen = capacity.fit(plan)
        if chosen is None:
            break  # the rest are no smaller
        capacity.take(plan, chosen)
        count += 1
    return max(1, min(count, limit or count))


def pick_next(plans: Sequence[PlacementPlan], capacity: Capacity) -> int | None:
    """Index of the first plan (callers keep them largest TP first) that fits now."""
    for i, plan in enumerate(plans):
        if capacity.fit(plan) is not None:
            return i
    return None


def launch_order(
    tps: Sequence[int], costs: Sequence[float | None], rounds: Sequence[int] | None = None
) -> list[int]:
    """Indices, round by round (repeats whose engine restarts: :mod:`orchestrator.sweep.repeats`),
    then largest TP first, then longest expected cost first (longest-processing-time).

    An unknown cost counts as the median known cost of its TP; with none known, the given order
    is kept (the sort is stable).
    """
    by_tp: dict[int, list[float]] = {}
    for tp, cost in zip(tps, costs, strict=True):
        if cost is not None:
            by_tp.setdefault(tp, []).append(cost)
    median = {tp: statistics.median(values) for tp, values in by_tp.items()}
    filled = [c if c is not None else median.get(tp, 0.0) for tp, c in zip(tps, costs, strict=True)]
    round_of = list(rounds) if rounds is not None else [0] * len(tps)
    return sorted(range(len(tps)), key=lambda i: (round_of[i], -tps[i], -filled[i]))


def instance_cost(trials: Sequence[Trial], durations: Mapping[str, float]) -> float | None:
    """Expected seconds of an instance running these trials; None unless every one is known."""
    known = [durations.get(t.trial_id) for t in trials]
    return None if any(d is None for d in known) else float(sum(d for d in known if d is not None))
