"""Makespan of the Ray scheduler on simulated clusters, against the lower bound.

A mixed grid of command-engine trials with known durations (``benchmarks/sleeper.py`` sleeps for
``{concurrency}`` × SCALE seconds; TP {1,2,4,8}; one engine instance per trial) runs on local Ray
clusters of 1×8, 2×8 and 4×8 logical GPUs (the grid is replicated once per node so every cluster
has work for all its GPUs). Lower bound = max(total GPU-seconds / GPUs, longest trial).
Per-trial orchestration overhead = an instance's time from placement request to release, minus the
time its command ran. The last number on the last line is the worst makespan / lower bound.

    python benchmarks/scheduler_makespan.py [--scale 10] [--nodes 1 2 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from orchestrator.cluster import RayCluster
from orchestrator.config.store import load_experiment
from orchestrator.grid import expand
from orchestrator.scheduler import Scheduler
from orchestrator.trial import Status, Trial, TrialResult

SLEEPER = Path(__file__).with_name("sleeper.py")
TPS = (1, 2, 4, 8)
DURATIONS = (1, 2, 3)  # × scale seconds


def run_cluster(nodes: int, scale: float) -> dict[str, float]:
    command = f"{{python}} {SLEEPER} {{concurrency}}*{scale} {{metrics_file}} {{tp}} {{trial_id}} -"
    copies = ",".join(str(64 + i) for i in range(nodes))
    cfg = load_experiment(
        [
            "engine=command",
            f"engine.command='{command}'",
            f"engine.tp=[{','.join(map(str, TPS))}]",
            "engine.reuse=false",
            f"workload.concurrency=[{','.join(map(str, DURATIONS))}]",
            f"workload.input_len=[{copies}]",
            f"resources.num_nodes={nodes}",
            "resources.cpus_per_node=64",
            "ray.max_concurrent_engines=64",
        ]
    )
    trials = expand(cfg)
    results: dict[str, TrialResult] = {}

    def on_result(trial: Trial, result: TrialResult) -> None:
        results[trial.trial_id] = result

    cluster = RayCluster(cfg.ray, cfg.resources).open()
    try:
        scheduler = Scheduler(cfg, f"makespan-{nodes}", cluster.nodes(), on_result)
        t0 = time.time()
        scheduler.run(trials)
        makespan = time.time() - t0
    finally:
        cluster.close()
    assert all(r.status == Status.DONE for r in results.values()), [r.message for r in results.values()]
    durations = {t.trial_id: t.point.concurrency * scale for t in trials}
    gpus = 8 * nodes
    lower = max(sum(t.tp * durations[t.trial_id] for t in trials) / gpus, max(durations.values()))
    overhead = [
        (inst.released_at - inst.submitted_at)
        - sum(results[t.trial_id].metrics["slept_s"] for t in inst.trials)
        for inst in scheduler.finished
    ]
    phases = {
        "place": [i.placed_at - i.submitted_at for i in scheduler.finished],
        "actor_start": [i.started_at - i.placed_at for i in scheduler.finished],
        "run_and_stop": [i.released_at - i.started_at for i in scheduler.finished],
    }
    print(f"{nodes}×8 p50 phase seconds:", {k: round(statistics.median(v), 2) for k, v in phases.items()})
    return {
        "nodes": nodes,
        "trials": len(trials),
        "makespan_s": makespan,
        "lower_bound_s": lower,
        "ratio": makespan / lower,
        "overhead_p50_s": statistics.median(overhead),
        "overhead_max_s": max(overhead),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0, help="seconds per duration unit")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    rows = [run_cluster(n, args.scale) for n in args.nodes]
    header = ("cluster", "trials", "makespan s", "lower s", "ratio", "ovh p50 s", "ovh max s")
    print(" ".join(f"{h:>10}" for h in header))
    for r in rows:
        print(
            f"{str(r['nodes']) + '×8':>10} {r['trials']:>10} {r['makespan_s']:>10.1f} "
            f"{r['lower_bound_s']:>10.1f} {r['ratio']:>10.3f} {r['overhead_p50_s']:>10.2f} "
            f"{r['overhead_max_s']:>10.2f}"
        )
    print(f"worst makespan / lower bound: {max(r['ratio'] for r in rows):.3f}")


if __name__ == "__main__":
    main()
