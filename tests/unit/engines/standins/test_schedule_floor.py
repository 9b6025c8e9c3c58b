"""The best possible makespan when durations are multiples of a unit (engines.standins.schedule_floor)."""

from engines.standins.schedule_floor import GRID, NODE, integral_bound, simulate
from orchestrator.execution.capacity import launch_order
from orchestrator.sweep.placement import plan_for


def test_bound_rounds_the_busiest_gpu_up_to_a_whole_unit() -> None:
    assert integral_bound(900.0, 8, 10.0) == 120.0  # the makespan grid: 112.5 s per GPU → 120 s
    assert integral_bound(960.0, 8, 10.0) == 120.0  # exactly whole units stay as they are
    assert integral_bound(1800.0, 16, 10.0) == 120.0  # replicated on two nodes: the same


def test_longest_first_reaches_the_bound_on_the_benchmark_grid() -> None:
    """The scheduler's known-duration order (``launch_order``) is the best possible schedule."""
    plans = [plan_for(tp, 1, [NODE]) for tp, _ in GRID]
    costs = [d for _, d in GRID]
    order = launch_order([tp for tp, _ in GRID], costs)
    makespan = simulate(plans, costs, order, overhead=0.0)
    assert makespan == integral_bound(sum(tp * d for tp, d in GRID), NODE.gpus, 10.0)
