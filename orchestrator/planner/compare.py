"""One batch: every WLB-LLM baseline layout vs our plan, scored by the same latency model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.config.planner import BatchConfig, PlannerConfig
from orchestrator.planner.model import LatencyModel
from orchestrator.planner.plan import Plan, check_plan
from orchestrator.planner.search import OURS, plan_batch
from orchestrator.planner.wlb import baselines


@dataclass(frozen=True)
class Scored:
    """A plan with its per-group latencies (non-empty groups) and max latency, in ms."""

    plan: Plan
    group_latencies: tuple[float, ...]
    latency: float


def score(plan: Plan, model: LatencyModel) -> Scored:
    lats = tuple(g.latency(model) for g in plan.groups if g.lengths)
    return Scored(plan, lats, plan.max_latency(model))


@dataclass(frozen=True)
class BatchComparison:
    name: str
    label: str
    budget: int
    lengths: tuple[int, ...]
    baselines: tuple[Scored, ...]
    ours: Scored
    method: str  # how our plan was found: exact | heuristic | heuristic (kept best baseline)

    @property
    def best_baseline(self) -> Scored:
        return min(self.baselines, key=lambda s: s.latency)  # first of equals

    @property
    def ratio(self) -> float:
        """Best baseline's max latency / ours (≥ 1 by construction)."""
        return self.best_baseline.latency / self.ours.latency


def compare_batch(batch: BatchConfig, model: LatencyModel, cfg: PlannerConfig) -> BatchComparison:
    """Plan one batch and all its baselines; ours is never worse than the best baseline.

    The exact search contains every baseline plan (homogeneous groups within the budget) in its
    search space, so it is at least as good. The heuristic is not exact, so if the best baseline
    beats it, that baseline's assignment becomes our plan. Both are then checked: every sequence
    assigned once, no more GPUs than the budget.
    """
    lengths = batch.lengths()
    base = [score(p, model) for p in baselines(lengths, batch.gpus, model, cfg.tp_sizes, cfg.cp_sizes)]
    found = plan_batch(lengths, batch.gpus, model, cfg.tp_sizes, cfg.cp_sizes, cfg.search, cfg.exact_max_work)
    ours, method = score(found.plan, model), found.method
    best = min(base, key=lambda s: s.latency)
    if best.latency < ours.latency:
        groups = tuple(g for g in best.plan.groups if g.lengths)
        ours = score(Plan(OURS, groups, sum(g.gpus for g in groups)), model)
        method = f"{method} (kept best baseline)"
    for s in (*base, ours):
        check_plan(s.plan, lengths, batch.gpus)
    if not ours.latency > 0 or not math.isfinite(ours.latency):
        raise ValueError(f"the latency model gives {ours.latency} ms for {batch.label()}")
    assert ours.latency <= best.latency, "ours must never be worse than the best baseline"
    return BatchComparison(
        batch.name or batch.label(),
        batch.label(),
        batch.gpus,
        tuple(lengths),
        tuple(base),
        ours,
        method,
    )


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))
