"""The floor of greedy list scheduling on the makespan benchmark's grid (a simulation, no Ray).

The scheduler starts, whenever GPUs free up, the first instance in its order that fits
(``capacity.pick_next``). This replays that policy on one 8-GPU node for the benchmark's grid
(TP {1,2,4,8} × {10,20,30} s): the TP8 instances run alone, so it tries every order of the nine
others and prints the best makespan / lower bound next to the scheduler's own orders (config order;
longest first within largest TP first), all with ``--overhead`` seconds per instance.

The floor it finds, 1.067 at zero overhead, is the best any schedule can do on this grid, greedy
or not (:func:`integral_bound`): every duration is a multiple of 10 s, so each GPU's busy time is
too; the grid's 900 GPU-seconds on 8 GPUs put at least 112.5 s, hence 120 s, on some GPU, while the
lower bound of the makespan benchmark (GPU-seconds / GPUs) is 112.5 s. The same holds for the grid
replicated on N nodes.

    python -m engines.standins.schedule_floor [--overhead 0]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
from collections.abc import Sequence

from orchestrator.execution.capacity import Capacity, launch_order, pick_next
from orchestrator.sweep.placement import NodeSpec, PlacementPlan, plan_for

NODE = NodeSpec(8, 64)
GRID = [(tp, d) for tp in (8, 4, 2, 1) for d in (10.0, 20.0, 30.0)]  # (TP, seconds), config order


def integral_bound(gpu_seconds: float, gpus: int, unit_s: float) -> float:
    """Least possible makespan when every duration is a multiple of ``unit_s``: some GPU is busy
    for at least ``gpu_seconds / gpus``, and a GPU's busy time is a multiple of ``unit_s``."""
    return unit_s * math.ceil(gpu_seconds / gpus / unit_s - 1e-9)


def simulate(
    plans: Sequence[PlacementPlan], costs: Sequence[float], order: Sequence[int], overhead: float
) -> float:
    """Makespan of first-fit list scheduling of ``order`` on one node."""
    free = Capacity({"n": float(NODE.gpus)}, {"n": float(NODE.cpus)})
    pending, now = list(order), 0.0
    running: list[tuple[float, int, list[str]]] = []  # (end, instance, nodes)
    while pending or running:
        while pending and (k := pick_next([plans[i] for i in pending], free)) is not None:
            i = pending.pop(k)
            nodes = free.fit(plans[i]) or []
            free.take(plans[i], nodes)
            heapq.heappush(running, (now + costs[i] + overhead, i, nodes))
        now, i, nodes = heapq.heappop(running)
        free.release(plans[i], nodes)
    return now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead", type=float, default=0.0, help="seconds added to every instance")
    args = parser.parse_args()
    grid = GRID
    plans = [plan_for(tp, 1, [NODE]) for tp, _ in grid]
    costs = [d for _, d in grid]
    gpu_seconds = sum(tp * d for tp, d in grid)
    lower = max(gpu_seconds / NODE.gpus, max(costs))
    tps = [tp for tp, _ in grid]
    config = launch_order(tps, [None] * len(grid))
    longest = launch_order(tps, costs)
    tp8 = [i for i in longest if tps[i] == 8]
    rest = [i for i in range(len(grid)) if tps[i] != 8]
    best = min(simulate(plans, costs, tp8 + list(p), args.overhead) for p in itertools.permutations(rest))
    print(f"config order {simulate(plans, costs, config, args.overhead) / lower:.3f}")
    print(
        f"longest first within largest TP first {simulate(plans, costs, longest, args.overhead) / lower:.3f}"
    )
    print(f"best of all {len(rest)}! orders {best / lower:.3f}")
    possible = integral_bound(gpu_seconds, NODE.gpus, 10.0)
    print(f"best possible schedule (durations are multiples of 10 s) {possible / lower:.3f}")


if __name__ == "__main__":
    main()
