"""The best possible makespan when durations are multiples of a unit (benchmarks.schedule_floor)."""

from benchmarks.schedule_floor import NODE, integral_bound, simulate
from orchestrator.placement import plan_for


def test_bound_rounds_the_busiest_gpu_up_to_a_whole_unit() -> None:
    assert integral_bound(900.0, 8, 10.0) == 120.0  # the makespan grid: 112.5 s per GPU → 120 s
    assert integral_bound(960.0, 8, 10.0) == 120.0  # exactly whole units stay as they are
    assert integral_bound(1800.0, 16, 10.0) == 120.0  # replicated on two nodes: the same


def test_longest_first_reaches_the_bound_on_the_benchmark_grid() -> None:
    grid = [(tp, d) for tp in (8, 4, 2, 1) for d in (30.0, 20.0, 10.0)]
    plans = [plan_for(tp, 1, [NODE]) for tp, _ in grid]
    makespan = simulate(plans, [d for _, d in grid], list(range(len(grid))), overhead=0.0)
    assert makespan == integral_bound(sum(tp * d for tp, d in grid), NODE.gpus, 10.0)
