"""Makespan of the Ray scheduler on simulated clusters, against the lower bound.

A mixed grid of command-engine trials with known durations (``engines/standins/sleeper.py`` sleeps for
``{concurrency}`` × SCALE seconds; TP {1,2,4,8}; one engine instance per trial) runs on local Ray
clusters of 1×8, 2×8 and 4×8 logical GPUs (the grid is replicated once per node so every cluster
has work for all its GPUs). Lower bound = max(total GPU-seconds / GPUs, longest trial).

Each cluster runs the grid twice, as a user's first and next sweep would: ``first`` knows no
durations (instances start largest TP first, in config order); ``known`` reads the first run's
trial durations from the results store (``orchestrator.store.reader.load_durations``) and starts
the longest first within a TP. Per-trial orchestration overhead = an instance's time from placement request to
release, minus the time its command slept. The last number on the last line is the worst
makespan / lower bound of the ``known`` runs; the line also gives the ``first`` runs' worst.

The lower bound cannot be reached on this grid: every duration is a multiple of ``scale`` seconds,
so the best possible makespan is 120 s at scale 10, 1.067 × the bound
(``schedule_floor.integral_bound``). The table also gives the makespan against that best.

Rounds (``--rounds``, default 3): each cluster's first/known pair runs that many times, and every
ratio is reported as its mean over the rounds with a bootstrap interval
(:func:`workloads.stats.bootstrap_ci`); ``known / first`` is the makespan ratio of the two orders
with its interval (:func:`workloads.stats.ratio_ci`), ``(n.s.)`` when it contains 1.

``--warm-workers 8 0`` runs every round once per value of ``ray.warm_workers`` (interleaved: round
1 with 8, round 1 with 0, round 2 with 8, ...) and compares the engine actors' start (placement to
actor ready, p50 of each run) and the makespan between the first value and each other one.

    python -m benchmarks.scheduler_makespan [--scale 10] [--nodes 1 2 4] [--rounds 3]
        [--orders first known] [--warm-workers 8 0]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from engines.standins.schedule_floor import integral_bound
from orchestrator.config.store import load_experiment
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.execution.cluster import RayCluster
from orchestrator.execution.instance import Instance
from orchestrator.execution.scheduler import Scheduler
from orchestrator.store.reader import load_durations
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand
from workloads.stats import bootstrap_ci, ratio_ci, ratio_text

SLEEPER = Path(__file__).parents[1] / "engines" / "standins" / "sleeper.py"
TPS = (1, 2, 4, 8)
DURATIONS = (1, 2, 3)  # × scale seconds


def slept(inst: Instance, results: dict[str, TrialResult]) -> float:
    """Seconds the instance's commands slept (the engine's own time)."""
    return sum(results[t.trial_id].metrics["slept_s"] for t in inst.trials)


def phases(finished: list[Instance], results: dict[str, TrialResult]) -> dict[str, float]:
    """p50 seconds of each orchestration phase over the finished instances."""

    def in_points(i: Instance) -> float:
        return sum(results[t.trial_id].ended_at - results[t.trial_id].started_at for t in i.trials)

    values = {
        "place": [i.placed_at - i.submitted_at for i in finished],
        "actor_start": [i.started_at - i.placed_at for i in finished],
        "point_extra": [in_points(i) - slept(i, results) for i in finished],  # process start, exit wait
        "between_points_and_stop": [i.released_at - i.started_at - in_points(i) for i in finished],
    }
    return {k: round(statistics.median(v), 3) for k, v in values.items()}


def run_cluster(
    nodes: int, scale: float, results_dir: Path, label: str, warm: int | None = None
) -> dict[str, float | str]:
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
            *([] if warm is None else [f"ray.warm_workers={warm}"]),
        ]
    )
    trials = expand(cfg)
    store = ResultsStore(results_dir, f"makespan-{nodes}-{label}")
    durations = load_durations(results_dir, {t.trial_id for t in trials})  # empty for the first run
    results: dict[str, TrialResult] = {}

    def on_result(trial: Trial, result: TrialResult) -> None:
        results[trial.trial_id] = result
        store.write(trial, result)

    cluster = RayCluster(cfg.ray, cfg.resources).open()
    try:
        scheduler = Scheduler(cfg, store.sweep_id, cluster.nodes(), on_result, durations)
        t0 = time.time()
        scheduler.run(trials)
        makespan = time.time() - t0
    finally:
        cluster.close()
    assert all(r.status == Status.DONE for r in results.values()), [r.message for r in results.values()]
    seconds = {t.trial_id: t.point.concurrency * scale for t in trials}
    gpu_seconds = sum(t.tp * seconds[t.trial_id] for t in trials)
    lower = max(gpu_seconds / (8 * nodes), max(seconds.values()))
    best = max(integral_bound(gpu_seconds, 8 * nodes, scale * math.gcd(*DURATIONS)), max(seconds.values()))
    overhead = [i.released_at - i.submitted_at - slept(i, results) for i in scheduler.finished]
    phase = phases(scheduler.finished, results)
    warm_text = "" if warm is None else f" warm_workers={warm}"
    print(f"{nodes}×8 {label}{warm_text}: p50 phase seconds", phase, flush=True)
    return {
        "cluster": f"{nodes}×8",
        "order": label if warm is None else f"{label} warm={warm}",
        "actor_start_p50_s": phase["actor_start"],
        "trials": len(trials),
        "makespan_s": makespan,
        "lower_bound_s": lower,
        "ratio": makespan / lower,
        "best_s": best,
        "ratio_vs_best": makespan / best,
        "overhead_p50_s": statistics.median(overhead),
        "overhead_max_s": max(overhead),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0, help="seconds per duration unit")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", nargs="+", choices=("first", "known"), default=["first", "known"])
    parser.add_argument("--warm-workers", type=int, nargs="+", default=None, help="ray.warm_workers values")
    args = parser.parse_args()
    warms: list[int | None] = list(args.warm_workers) if args.warm_workers else [None]
    rows = []
    for _ in range(args.rounds):
        for n in args.nodes:
            for warm in warms:
                with tempfile.TemporaryDirectory(prefix="makespan-") as tmp:
                    rows += [run_cluster(n, args.scale, Path(tmp), label, warm) for label in args.orders]
    keys = ("makespan_s", "ratio", "ratio_vs_best", "overhead_p50_s", "overhead_max_s", "actor_start_p50_s")
    header = ("cluster", "order", "rounds", "makespan s", "ratio", "vs best", "ovh p50 s", "ovh max s",
              "actor start p50 s")  # fmt: skip
    print(" | ".join(header))
    summary: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        cell = summary.setdefault(f"{r['cluster']} {r['order']}", {k: [] for k in keys})
        for k in keys:
            cell[k].append(float(r[k]))
    for name, cell in summary.items():
        texts = [bootstrap_ci(cell[k]).text(".3f" if "ratio" in k else ".2f") for k in keys]
        print(" | ".join([*name.split(" ", 1), str(len(cell["ratio"])), *texts]))
    for n in args.nodes:
        if warms == [None] and args.orders == ["first", "known"]:
            first, known = summary[f"{n}×8 first"]["makespan_s"], summary[f"{n}×8 known"]["makespan_s"]
            ratio = ratio_text(ratio_ci(known, first))
            print(f"{n}×8 known / first makespan: {ratio} over {len(first)} round(s)")
        for order, other in ((o, w) for o in args.orders for w in warms[1:]):
            base, off = summary[f"{n}×8 {order} warm={warms[0]}"], summary[f"{n}×8 {order} warm={other}"]
            for key, what in (("actor_start_p50_s", "actor start p50"), ("makespan_s", "makespan")):
                ratio = ratio_text(ratio_ci(off[key], base[key]))
                rounds = len(base[key])
                print(
                    f"{n}×8 {order} {what}: warm_workers={other} / {warms[0]}: {ratio} over {rounds} round(s)"
                )
    worst = {
        o: max(float(r["ratio"]) for r in rows if str(r["order"]).split(" ")[0] == o) for o in args.orders
    }
    print(
        "worst makespan / lower bound: "
        + "; ".join(
            f"{'first run' if o == 'first' else 'with durations known from it'} {worst[o]:.3f}" for o in worst
        )
    )


if __name__ == "__main__":
    main()
