"""Plans: sequences of one batch assigned to (TP, CP) GPU groups, and their checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.planner.model import LatencyModel


@dataclass(frozen=True)
class Group:
    """One GPU group of ``tp × cp`` GPUs and the sequence lengths it processes (longest first)."""

    tp: int
    cp: int
    lengths: tuple[int, ...]

    @property
    def gpus(self) -> int:
        return self.tp * self.cp

    def latency(self, model: LatencyModel) -> float:
        return model.group_latency(self.lengths, self.tp, self.cp)


@dataclass(frozen=True)
class Plan:
    """A batch's assignment. ``reserved_gpus`` is what the layout holds (idle DP groups included)."""

    label: str
    groups: tuple[Group, ...]
    reserved_gpus: int

    @property
    def used_gpus(self) -> int:
        return sum(g.gpus for g in self.groups if g.lengths)

    def max_latency(self, model: LatencyModel) -> float:
        """The batch's latency: its slowest group (0 for an empty plan)."""
        return max((g.latency(model) for g in self.groups if g.lengths), default=0.0)


def make_group(tp: int, cp: int, lengths: Sequence[int]) -> Group:
    return Group(tp, cp, tuple(sorted(lengths, reverse=True)))


def check_plan(plan: Plan, lengths: Sequence[int], budget: int) -> None:
    """Raise ValueError unless every sequence is assigned exactly once within ``budget`` GPUs."""
    assigned = Counter(s for g in plan.groups for s in g.lengths)
    if assigned != Counter(lengths):
        missing = Counter(lengths) - assigned
        extra = assigned - Counter(lengths)
        raise ValueError(f"{plan.label}: sequences missing {dict(missing)}, extra {dict(extra)}")
    if max(plan.reserved_gpus, plan.used_gpus) > budget:
        raise ValueError(f"{plan.label}: {plan.reserved_gpus} GPUs reserved, budget is {budget}")
