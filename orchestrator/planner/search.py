"""The planner: assign a batch's sequences to heterogeneous (TP, CP) groups within a GPU budget,
minimising the batch's max group latency.

Exact search (``plan_exact``). Sequences of equal length are interchangeable, so a group is a
count vector ``u`` over the distinct lengths plus a (TP, CP) type. For a latency target ``L`` a DP
over count vectors gives the fewest GPUs that cover the batch with every group ≤ ``L``::

    gpus(v) = min over u ≤ v holding one of v's longest sequences of  cost_L(u) + gpus(v − u)
    cost_L(u) = min { tp·cp : latency(u, tp, cp) ≤ L }

(every partition has a group holding the longest remaining sequence, so fixing it loses nothing).
The optimum max latency is one of the finitely many group latencies ``latency(u, tp, cp)``;
``gpus`` is non-increasing in ``L``, so a binary search over those candidates finds the smallest
``L`` with ``gpus(batch) ≤ budget``: the exact min-max under the model, using the fewest GPUs
among optimal plans. The work per DP is Π_k (n_k+1)(n_k+2)/2 for counts n_k of each distinct
length (1 683 for [32K] + 32×[1K]), times ~log2(candidates) DPs.

Heuristic (``plan_heuristic``), used when that work exceeds ``max_work`` (many distinct lengths):
bisection on ``L`` with a greedy feasibility test — longest sequence first, best-fit into an open
group that stays ≤ ``L``, else open the smallest group type that runs it alone within ``L`` — keeping
the best plan that fits the budget, never worse than all sequences in one group. It is not exact;
``compare.py`` also keeps the best baseline, so the result is never worse than any baseline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

from orchestrator.config.planner import SEARCHES
from orchestrator.planner.model import LatencyModel
from orchestrator.planner.plan import Group, Plan, make_group

GroupType = tuple[int, int]  # (tp, cp)
OURS = "Ours"


@dataclass(frozen=True)
class SearchResult:
    plan: Plan
    method: str  # "exact" | "heuristic"


def group_types(budget: int, tp_sizes: Sequence[int], cp_sizes: Sequence[int]) -> list[GroupType]:
    """Every (tp, cp) within the budget, smallest first."""
    types = {(t, c) for t in tp_sizes for c in cp_sizes if t * c <= budget}
    return sorted(types, key=lambda tc: (tc[0] * tc[1], tc[0]))


def exact_work(lengths: Sequence[int]) -> int:
    """Inner iterations of one exact DP for this batch."""
    return math.prod((n + 1) * (n + 2) // 2 for n in Counter(lengths).values())


def plan_batch(
    lengths: Sequence[int],
    budget: int,
    model: LatencyModel,
    tp_sizes: Sequence[int],
    cp_sizes: Sequence[int],
    search: str = "auto",
    max_work: int = 200_000,
) -> SearchResult:
    """Our plan for one batch: exact when ``search`` is exact, or auto and the DP is small enough."""
    if not lengths:
        raise ValueError("a batch needs at least one sequence")
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
    types = group_types(budget, tp_sizes, cp_sizes)
    if not types:
        raise ValueError(f"no (tp, cp) group fits {budget} GPU(s)")
    if search == "exact" or (search == "auto" and exact_work(lengths) <= max_work):
        return SearchResult(plan_exact(lengths, budget, model, types), "exact")
    return SearchResult(plan_heuristic(lengths, budget, model, types), "heuristic")


def _plan(groups: list[Group]) -> Plan:
    groups.sort(key=lambda g: (-max(g.lengths), -g.gpus))
    return Plan(OURS, tuple(groups), sum(g.gpus for g in groups))


def plan_exact(lengths: Sequence[int], budget: int, model: LatencyModel, types: list[GroupType]) -> Plan:
    distinct = sorted(set(lengths), reverse=True)
    counts = Counter(lengths)
    total = tuple(counts[s] for s in distinct)
    vectors = list(product(*(range(n + 1) for n in total)))  # lexicographic: v − u comes before v
    zero = vectors[0]
    options: dict[tuple[int, ...], list[tuple[float, int, GroupType]]] = {
        u: [
            (model.counts_latency(dict(zip(distinct, u, strict=True)), t, c), t * c, (t, c)) for t, c in types
        ]
        for u in vectors[1:]
    }
    candidates = sorted({lat for opts in options.values() for lat, _, _ in opts})

    def solve(limit: float) -> dict[tuple[int, ...], tuple[int, tuple[int, ...], GroupType]]:
        cost: dict[tuple[int, ...], tuple[int, GroupType]] = {}
        for u, opts in options.items():
            fits = [(g, ty) for lat, g, ty in opts if lat <= limit]
            if fits:
                cost[u] = min(fits)
        best: dict[tuple[int, ...], tuple[int, tuple[int, ...], GroupType]] = {zero: (0, zero, (0, 0))}
        for v in vectors[1:]:
            j = next(i for i, x in enumerate(v) if x)
            ranges = [range(1 if i == j else 0, x + 1) for i, x in enumerate(v)]
            choice = (budget + 1, zero, (0, 0))
            for u in product(*ranges):
                if u not in cost:
                    continue
                rest = best[tuple(a - b for a, b in zip(v, u, strict=True))][0]
                gpus = cost[u][0] + rest
                if gpus < choice[0]:
                    choice = (gpus, u, cost[u][1])
            best[v] = choice
        return best

    lo, hi = 0, len(candidates) - 1  # the largest candidate is feasible: all in one (1, 1) group
    while lo < hi:
        mid = (lo + hi) // 2
        if solve(candidates[mid])[total][0] <= budget:
            hi = mid
        else:
            lo = mid + 1
    best = solve(candidates[lo])
    groups: list[Group] = []
    v = total
    while v != zero:
        _, u, (t, c) = best[v]
        groups.append(make_group(t, c, [s for s, n in zip(distinct, u, strict=True) for _ in range(n)]))
        v = tuple(a - b for a, b in zip(v, u, strict=True))
    return _plan(groups)


@dataclass
class _Open:
    """A group the heuristic is filling."""

    tp: int
    cp: int
    members: list[int] = field(default_factory=list)
    load: float = 0.0


def plan_heuristic(
    lengths: Sequence[int], budget: int, model: LatencyModel, types: list[GroupType], rounds: int = 60
) -> Plan:
    order = sorted(lengths, reverse=True)
    cache: dict[tuple[int, int, int], float] = {}

    def f(s: int, t: int, c: int) -> float:
        if (s, t, c) not in cache:
            cache[(s, t, c)] = model.seq_latency(s, t, c)
        return cache[(s, t, c)]

    def greedy(limit: float) -> Plan | None:
        groups: list[_Open] = []
        gpus = 0
        for s in order:
            fits = [g for g in groups if g.load + f(s, g.tp, g.cp) <= limit]
            if fits:
                g = max(fits, key=lambda g: g.load + f(s, g.tp, g.cp))
            else:
                ty = next(((t, c) for t, c in types if f(s, t, c) <= limit), None)
                if ty is None or gpus + ty[0] * ty[1] > budget:
                    return None
                g = _Open(ty[0], ty[1])
                groups.append(g)
                gpus += g.tp * g.cp
            g.members.append(s)
            g.load += f(s, g.tp, g.cp)
        return _plan([make_group(g.tp, g.cp, g.members) for g in groups])

    one = min((make_group(t, c, order) for t, c in types), key=lambda g: (g.latency(model), g.gpus))
    best = _plan([one])
    lo = max(min(f(s, t, c) for t, c in types) for s in set(order))
    hi = best.max_latency(model)
    for _ in range(rounds):
        if hi - lo <= 1e-9 * hi:
            break
        mid = (lo + hi) / 2
        plan = greedy(mid)
        if plan is None:
            lo = mid
            continue
        hi = mid
        if plan.max_latency(model) < best.max_latency(model):
            best = plan
    return best
