"""GPU-hours the SLO search spends to find the best configuration, against an exhaustive grid of the
same space, on a simulated cluster with scripted candidate curves.

    python -m benchmarks.search_vs_grid [--seeds 20] [--nodes 2] [--rounds 3] [--eta 3]
        [--noise 0.04] [--out benchmarks/results/search_vs_grid.json]

The space is what a user of a node of 8 GPUs would search for one model: TP {1, 2, 4, 8} ×
``max_num_seqs`` {64, 128, 256} × ``max_num_batched_tokens`` {2048, 8192} (24 candidates). Each
candidate has a scripted true SLO rate (sub-linear in TP, better with more sequences up to a
TPOT-limited knee at TP 1, a little worse with the large prefill budget), a peak throughput above
it and a start-up time growing with TP and ``max_num_seqs`` (CUDA graphs). A probe of ``n``
requests at rate ``r`` passes when ``r`` ≤ the true rate × (1 + ε), ε normal with standard deviation
``noise`` × sqrt(full requests / n), and lasts n / min(r, peak) + 1 s; each trial is the tool's own
bisection (``workloads.sla.sla_search``) over such probes, stored as the ``result.json`` an
``sla_search`` trial writes and read back by ``orchestrator.search.measure.from_result``.

Both arms run on the same simulated cluster (``--nodes`` × 8 GPUs, instances packed largest TP
first as the scheduler does, an instance holding its GPUs for start-up + probes + 5 s stop):

- the search: the tool's own rounds (``orchestrator.search.policy.replay``: successive halving with
  the dominance check) at the tool's fidelities (``orchestrator.search.trials.fidelity``), and its
  choice (``policy.choose``);
- the exhaustive grid: every candidate measured once at full fidelity, the best measured chosen.

Per seed: GPU-hours and wall time of each arm, whether the search chose the grid's choice, and the
true score of each arm's choice against the true best (the grid's own choice is noisy too: it takes
the best of 24 noisy measurements). The last line is the mean GPU-hours ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.search import SearchConfig, SearchSLO
from orchestrator.search.measure import Measurement, from_result
from orchestrator.search.policy import Rules, choose, replay
from orchestrator.search.trials import fidelity
from workloads.sla import sla_search

TPS, SEQS, MBTS = (1, 2, 4, 8), (64, 128, 256), (2048, 8192)
TOKENS = 128  # output tokens per request
STOP_S = 5.0


@dataclasses.dataclass(frozen=True)
class Truth:
    cid: str
    tp: int
    seqs: int
    mbt: int
    rate: float  # req/s at which the p99s just meet the SLO
    peak: float  # max throughput, req/s
    startup_s: float
    tpot_p50_ms: float


def space() -> list[Truth]:
    out = []
    for tp in TPS:
        for seqs in SEQS:
            for mbt in MBTS:
                knee = 0.8 if (tp == 1 and seqs == 256) else 1.0  # TP 1 at 256 sequences breaks the TPOT SLO
                rate = (
                    2.0
                    * tp**0.8
                    * {64: 0.72, 128: 1.0, 256: 1.1}[seqs]
                    * knee
                    * (0.95 if mbt == 8192 else 1.0)
                )
                startup = 60 + 25 * math.log2(tp) + 10 * seqs / 256 + (5 if mbt == 8192 else 0)
                tpot = 18 * (seqs / 128) ** 0.3 / tp**0.4
                out.append(Truth(f"tp{tp}-s{seqs}-b{mbt}", tp, seqs, mbt, rate, rate * 1.5, startup, tpot))
    return out


def measure(
    t: Truth, requests: int, iterations: int, full: int, noise: float, rng: Any, rnd: int
) -> Measurement:
    """One simulated ``sla_search`` trial of ``t``: stored result → Measurement; its duration in
    ``measured_s``, its start-up in ``startup_s``."""
    sigma = noise * math.sqrt(full / requests)
    steps: list[dict[str, float]] = []
    seconds = 0.0

    def probe(rate: float) -> dict[str, float | int | bool]:
        nonlocal seconds
        passed = rate <= t.rate * (1 + rng.normal(0, sigma))
        seconds += requests / min(rate, t.peak) + 1.0
        steps.append({"step": len(steps), "offered_rate": rate, "slo_passed": float(passed)})
        return {"valid": True, "num_ok": requests, "ttft_p99_ms": 100.0 if passed else 900.0}

    peak = t.peak * (1 + rng.normal(0, sigma / 2))
    seconds += requests / t.peak + 1.0
    steps.insert(0, {"step": 0, "offered_rate": math.inf, "request_throughput": peak})
    best, _ = sla_search(probe, {"ttft_ms": 500.0}, 0.5, max(peak, 0.5), iterations=iterations, rel_tol=0.02)
    measured = (best or 0.0) * (1 + rng.normal(0, sigma / 4))
    result = {
        "trial_id": f"{t.cid}-r{rnd}", "tp": t.tp, "status": "DONE", "steps": steps,
        "started_at": 0.0, "ended_at": seconds, "engine_info": {"startup_s": t.startup_s},
        "metrics": {"sla_max_rate": best if best else math.nan, "output_token_throughput": measured * TOKENS,
                    "num_ok": requests, "total_output_tokens": requests * TOKENS, "ttft_p99_ms": 100.0,
                    "tpot_p99_ms": t.tpot_p50_ms * 1.5, "tpot_p50_ms": t.tpot_p50_ms},
    }  # fmt: skip
    return from_result(result, t.cid, rnd, TOKENS)


def pack(jobs: list[tuple[int, float]], nodes: int) -> float:
    """Makespan of (tp, seconds) jobs on ``nodes`` × 8 GPUs: largest TP first, each job on one node
    as soon as it has the GPUs (list scheduling with backfill, as the scheduler does)."""
    free = [[0.0] * 8 for _ in range(nodes)]  # per node, when each GPU is free
    end = 0.0
    for tp, seconds in sorted(jobs, key=lambda j: (-j[0], -j[1])):
        best_node, best_start = 0, math.inf
        for n, gpus in enumerate(free):
            start = sorted(gpus)[tp - 1]  # the tp-th GPU to become free
            if start < best_start:
                best_node, best_start = n, start
        gpus = sorted(free[best_node])
        free[best_node] = [best_start + seconds] * tp + gpus[tp:]
        end = max(end, best_start + seconds)
    return end


def held_s(m: Measurement) -> float:
    return (m.startup_s or 0.0) + m.measured_s + STOP_S


def run_arm(
    cfg: ExperimentConfig, truths: list[Truth], noise: float, nodes: int, seed: int
) -> dict[str, Any]:
    """The tool's search (``cfg.search.rounds`` rounds) on the simulated cluster: GPU-hours, wall, choice."""
    rng = np.random.default_rng(seed)
    rules = Rules.of(cfg.search)
    by_id = {t.cid: t for t in truths}
    ids = [t.cid for t in truths]
    results: dict[tuple[str, int], Measurement] = {}
    gpu_s = wall = 0.0
    while (plan := replay(ids, results, rules)).next_round is not None:
        rnd = plan.next_round
        requests, iterations = fidelity(cfg, rnd)
        for cid in plan.todo:
            results[(cid, rnd)] = measure(
                by_id[cid], requests, iterations, cfg.workload.num_requests, noise, rng, rnd
            )
        jobs = [(by_id[c].tp, held_s(results[(c, rnd)])) for c in plan.todo]
        gpu_s += sum(tp * s for tp, s in jobs)
        wall += pack(jobs, nodes)
    choice = choose(plan, rules, {"ttft_ms": 500.0}, ids)
    return {"gpu_hours": gpu_s / 3600, "wall_s": wall, "chosen": choice.measurement.cid if choice else None,
            "trials": len(results)}  # fmt: skip


def config(rounds: int, eta: int, full: int, iterations: int) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.search = SearchConfig(
        enabled=True, slo=SearchSLO(ttft_p99_ms=500.0), rounds=rounds, eta=eta, min_requests=20
    )
    cfg.workload.num_requests = full
    cfg.workload.sla.iterations = iterations
    return cfg


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.search_vs_grid")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500, help="per probe in the full measurement")
    parser.add_argument("--iterations", type=int, default=6, help="bisection steps in the full measurement")
    parser.add_argument("--noise", type=float, default=0.04, help="probe noise at full fidelity")
    parser.add_argument("--out", default="benchmarks/results/search_vs_grid.json")
    args = parser.parse_args()
    truths = space()
    true_best = max(t.rate * TOKENS / t.tp for t in truths)
    score = {t.cid: t.rate * TOKENS / t.tp for t in truths}
    search_cfg = config(args.rounds, args.eta, args.requests, args.iterations)
    grid_cfg = config(1, args.eta, args.requests, args.iterations)  # one round at full fidelity: the grid
    rows = []
    for seed in range(args.seeds):
        s = run_arm(search_cfg, truths, args.noise, args.nodes, seed)
        g = run_arm(grid_cfg, truths, args.noise, args.nodes, seed)
        rows.append({"seed": seed, "search": s, "grid": g, "ratio": s["gpu_hours"] / g["gpu_hours"],
                     "same_choice": s["chosen"] == g["chosen"],
                     "search_regret": 1 - score[s["chosen"]] / true_best if s["chosen"] else 1.0,
                     "grid_regret": 1 - score[g["chosen"]] / true_best if g["chosen"] else 1.0})  # fmt: skip
    print("| seed | search GPU-h | grid GPU-h | ratio | search wall h | grid wall h | search chose | "
          "grid chose |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        s, g = r["search"], r["grid"]
        print(f"| {r['seed']} | {s['gpu_hours']:.2f} | {g['gpu_hours']:.2f} | {r['ratio']:.3f} | "
              f"{s['wall_s'] / 3600:.2f} | {g['wall_s'] / 3600:.2f} | {s['chosen']} | "
              f"{g['chosen']} |")  # fmt: skip
    ratios = [r["ratio"] for r in rows]
    walls = [r["search"]["wall_s"] / r["grid"]["wall_s"] for r in rows]
    summary = {
        "date": time.strftime("%Y-%m-%d"), "args": vars(args), "candidates": len(truths),
        "true_best": max(score, key=score.__getitem__),
        "ratio_mean": statistics.mean(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "wall_ratio_mean": statistics.mean(walls),
        "same_choice": sum(r["same_choice"] for r in rows),
        "search_true_best": sum(r["search"]["chosen"] == max(score, key=score.__getitem__) for r in rows),
        "grid_true_best": sum(r["grid"]["chosen"] == max(score, key=score.__getitem__) for r in rows),
        "search_regret_mean": statistics.mean(r["search_regret"] for r in rows),
        "grid_regret_mean": statistics.mean(r["grid_regret"] for r in rows),
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    print(
        f"{len(truths)} candidates, {args.seeds} seeds; the search chose the grid's choice in "
        f"{summary['same_choice']}/{args.seeds}; the true best: search {summary['search_true_best']}, grid "
        f"{summary['grid_true_best']}; true-score regret: search "
        f"{summary['search_regret_mean']:.2%}, grid {summary['grid_regret_mean']:.2%}; "
        f"wall time search / grid {summary['wall_ratio_mean']:.3f}"
    )
    print(
        f"GPU-hours search / exhaustive grid: {summary['ratio_mean']:.3f} "
        f"(min {summary['ratio_min']:.3f}, max {summary['ratio_max']:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
