"""WLB-LLM-style baselines: homogeneous [TP, CP, DP] layouts with workload-balanced packing.

WLB-LLM (Wang et al., 2025) keeps 4D parallelism homogeneous (every DP replica has the same
TP × CP group) and balances the *workload* across DP replicas with a variable-length packing: the
sequences, longest first, each go to the replica whose estimated latency is currently the lowest.
Its workload estimate is the same quadratic-attention + linear model as ``model.py``, so the
baselines and the planner are scored by one function. (WLB-LLM's outlier delay, which postpones
very long documents to a later iteration, changes the batch and is not modelled here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.planner.model import LatencyModel
from orchestrator.planner.plan import Plan, make_group


@dataclass(frozen=True)
class Layout:
    tp: int
    cp: int
    dp: int

    @property
    def gpus(self) -> int:
        return self.tp * self.cp * self.dp

    @property
    def label(self) -> str:
        return f"WLB LLM[TP={self.tp}, CP={self.cp}, DP={self.dp}]"


def layouts(budget: int, tp_sizes: Sequence[int], cp_sizes: Sequence[int]) -> list[Layout]:
    """Every (TP, CP) that fits the budget, with as many DP replicas as the budget holds."""
    return [
        Layout(tp, cp, budget // (tp * cp))
        for tp in sorted(set(tp_sizes))
        for cp in sorted(set(cp_sizes))
        if tp * cp <= budget
    ]


def balanced_packing(lengths: Sequence[int], layout: Layout, model: LatencyModel) -> Plan:
    """Longest sequence first, each to the DP replica with the lowest estimated latency so far.

    Ties go to the lowest replica index. Empty replicas stay in the plan (they hold GPUs).
    """
    loads = [0.0] * layout.dp
    members: list[list[int]] = [[] for _ in range(layout.dp)]
    for s in sorted(lengths, reverse=True):
        i = min(range(layout.dp), key=lambda j: (loads[j], j))
        members[i].append(s)
        loads[i] += model.seq_latency(s, layout.tp, layout.cp)
    groups = tuple(make_group(layout.tp, layout.cp, m) for m in members)
    return Plan(layout.label, groups, layout.gpus)


def baselines(
    lengths: Sequence[int], budget: int, model: LatencyModel, tp_sizes: Sequence[int], cp_sizes: Sequence[int]
) -> list[Plan]:
    """One balanced-packing plan per homogeneous layout within ``budget``."""
    return [balanced_packing(lengths, lay, model) for lay in layouts(budget, tp_sizes, cp_sizes)]
