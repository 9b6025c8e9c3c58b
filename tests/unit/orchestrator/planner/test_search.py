"""The planner's search and the WLB-LLM baselines: valid plans, ours never worse, exact is optimal."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest

from orchestrator.config.planner import BatchConfig, PlannerConfig, SequenceRun
from orchestrator.planner.calibration import load_calibration
from orchestrator.planner.compare import compare_batch
from orchestrator.planner.model import LatencyModel
from orchestrator.planner.plan import Plan, check_plan, make_group
from orchestrator.planner.search import group_types, plan_batch
from orchestrator.planner.wlb import Layout, balanced_packing, baselines, layouts

MODEL = load_calibration(None).model
TP, CP = [1, 2, 4, 8], [1, 2, 4, 8, 16, 32]
SEED_BATCHES = [
    ([(32768, 1), (1024, 1)], 16),
    ([(32768, 1), (1024, 32)], 16),
    ([(65536, 1), (2048, 32)], 36),
    ([(65536, 1), (2048, 32)], 32),
]


def batch(runs: list[tuple[int, int]], gpus: int) -> BatchConfig:
    return BatchConfig("", gpus, [SequenceRun(s, n) for s, n in runs])


def random_batches(n: int) -> Iterator[BatchConfig]:
    rng = random.Random(7)
    for _ in range(n):
        runs = [(rng.choice([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]), rng.randint(1, 6))]
        runs += [(rng.choice([256, 1024, 3000]), rng.randint(1, 8))]
        yield batch(runs, rng.choice([1, 3, 5, 8, 12, 16, 24, 36]))


@pytest.mark.parametrize("search", ["exact", "heuristic", "auto"])
def test_plans_are_valid_and_ours_never_worse(search: str) -> None:
    cfg = PlannerConfig(tp_sizes=TP, cp_sizes=CP, search=search)
    for b in [batch(r, g) for r, g in SEED_BATCHES] + list(random_batches(12)):
        c = compare_batch(b, MODEL, cfg)
        lengths = b.lengths()
        for s in (*c.baselines, c.ours):
            check_plan(s.plan, lengths, b.gpus)  # every sequence exactly once, within the budget
            assert s.plan.used_gpus <= b.gpus
            assert sorted(x for g in s.plan.groups for x in g.lengths) == sorted(lengths)
        assert all(c.ours.latency <= s.latency for s in c.baselines)
        assert c.ratio >= 1.0


def test_exact_beats_baselines_on_seed_batches() -> None:
    cfg = PlannerConfig(tp_sizes=TP, cp_sizes=CP, search="exact")
    ratios = [compare_batch(batch(r, g), MODEL, cfg).ratio for r, g in SEED_BATCHES]
    assert ratios[0] >= 1.0  # two sequences: a homogeneous layout is already optimal
    assert ratios[1] > 1.05 and ratios[2] > 1.05  # mixed lengths: heterogeneous groups win


def brute_force(lengths: list[int], budget: int, model: LatencyModel) -> float:
    """Min over every set partition and every (tp, cp) per block within the budget."""
    types = group_types(budget, TP, CP)
    best = float("inf")
    for labels in itertools.product(range(len(lengths)), repeat=len(lengths)):
        blocks = [[s for s, lab in zip(lengths, labels, strict=True) if lab == k] for k in set(labels)]
        for choice in itertools.product(types, repeat=len(blocks)):
            if sum(t * c for t, c in choice) <= budget:
                lat = max(model.group_latency(b, t, c) for b, (t, c) in zip(blocks, choice, strict=True))
                best = min(best, lat)
    return best


@pytest.mark.parametrize(
    ("lengths", "budget"),
    [([8192, 1024, 1024, 2048], 4), ([32768, 4096, 512], 6), ([16384, 16384, 1024, 1024], 5)],
)
def test_exact_is_optimal(lengths: list[int], budget: int) -> None:
    got = plan_batch(lengths, budget, MODEL, TP, CP, "exact")
    assert got.method == "exact"
    assert got.plan.max_latency(MODEL) == pytest.approx(brute_force(lengths, budget, MODEL), rel=1e-12)


def test_auto_falls_back_to_heuristic_for_large_batches() -> None:
    lengths = [32768, *range(1000, 1020)]  # 21 distinct lengths: exact work is 3**21
    got = plan_batch(lengths, 16, MODEL, TP, CP, "auto", max_work=200_000)
    assert got.method == "heuristic"
    cfg = PlannerConfig(tp_sizes=TP, cp_sizes=CP, exact_max_work=1)
    c = compare_batch(batch([(32768, 1), (1024, 32)], 16), MODEL, cfg)
    assert c.method.startswith("heuristic") and c.ratio >= 1.0


def test_layouts_use_the_budget() -> None:
    got = layouts(36, TP, CP)
    assert Layout(8, 2, 2) in got and Layout(1, 1, 36) in got
    assert all(lay.gpus <= 36 < lay.gpus + lay.tp * lay.cp for lay in got)
    assert all(lay.tp * lay.cp <= 36 for lay in got)


def test_balanced_packing_longest_first_to_least_loaded() -> None:
    linear = LatencyModel(attn=0, linear=1, tp_comm=0, cp_comm=0, tp_step=0, cp_step=0, fixed=0)
    plan = balanced_packing([2048, 4096, 1024, 3072, 2048], Layout(1, 1, 2), linear)
    assert [g.lengths for g in plan.groups] == [(4096, 2048), (3072, 2048, 1024)]
    idle = balanced_packing([1024], Layout(1, 1, 4), linear)
    assert idle.reserved_gpus == 4 and idle.used_gpus == 1
    assert len(baselines([1024], 4, linear, [1, 2], [1, 2])) == 4


def test_check_plan_and_search_reject_bad_input() -> None:
    ok = Plan("x", (make_group(1, 1, [1024]), make_group(2, 1, [2048])), 3)
    check_plan(ok, [2048, 1024], 3)
    with pytest.raises(ValueError, match="missing"):
        check_plan(ok, [2048, 1024, 1024], 3)
    with pytest.raises(ValueError, match="budget"):
        check_plan(ok, [2048, 1024], 2)
    with pytest.raises(ValueError):
        plan_batch([], 4, MODEL, TP, CP)
    with pytest.raises(ValueError):
        plan_batch([1024], 0, MODEL, TP, CP)
    with pytest.raises(ValueError):
        plan_batch([1024], 4, MODEL, TP, CP, "nope")
