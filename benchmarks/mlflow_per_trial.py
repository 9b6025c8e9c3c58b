"""Seconds of MLflow time per trial on the local server: MLflow's default server vs the tool's tuned one.

    python benchmarks/mlflow_per_trial.py [--trials 12] [--only tuned|default]

For each server it starts ``mlflow server`` on 127.0.0.1 (sqlite + local artifacts, in a temp dir),
writes a sweep of realistic stored trials (params, ~20 metrics, step metrics, a requests parquet, a
~60 KB engine log, config and result), then times what the sweep does per trial: read the stored
trial and log it as a child run (create run, log_batch, artifact uploads, terminate). Prints the
start-up time, the per-sweep cost (experiment + parent run + one child search) and per-trial
median / p90 / mean, with the HTTP requests and the client's own CPU time per trial. Numbers
depend on machine load: compare the two rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from engines.standins.fake_trials import make_result, write_sweep
from orchestrator.tracking.server import MLflowServer
from orchestrator.tracking.sync import Uploader


class CountingSession:
    """Counts the HTTP requests the MLflow client sends (all go through requests.Session.request)."""

    def __init__(self) -> None:
        self.count = 0
        self._orig = requests.Session.request

        def counted(session: requests.Session, *args: object, **kwargs: object) -> requests.Response:
            self.count += 1
            return self._orig(session, *args, **kwargs)  # type: ignore[arg-type]

        requests.Session.request = counted  # type: ignore[method-assign,assignment]

    def close(self) -> None:
        requests.Session.request = self._orig  # type: ignore[method-assign]


def run(kind: str, n_trials: int, tmp: Path) -> dict[str, float]:
    server = MLflowServer(tmp / kind / "mlflow", tuned=kind == "tuned")
    t0 = time.perf_counter()
    uri = server.start(timeout_s=300)
    startup = time.perf_counter() - t0
    try:
        concurrency = ",".join(str(c) for c in range(1, n_trials + 1))
        store, trials = write_sweep(
            tmp / kind, f"bench-{kind}", ["engine.tp=[1]", f"workload.concurrency=[{concurrency}]"]
        )
        for trial in trials:  # realistic sizes: 256 request rows, ~60 KB log, a rate series
            result = make_result(trial, steps=True)
            result.records = [dict(r, request_id=i) for i in range(32) for r in result.records]
            result.engine_log = "INFO vllm step: running 4 reqs, 128 tokens, kv cache 3.1%\n" * 1000
            result.metrics.update({f"extra_{i}_ms": float(i) for i in range(14)})
            store.write(trial, result)
        warnings: list[str] = []
        up = Uploader(store, warnings.append)
        t0 = time.perf_counter()
        up.connect(uri, "bench", store.sweep_meta()["config"], {"preset": "bench"})
        per_sweep = time.perf_counter() - t0
        counter = CountingSession()
        times, cpu = [], []
        try:
            for trial in trials:
                t0, c0 = time.perf_counter(), time.process_time()
                up.upload(trial.trial_id)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        finally:
            counter.close()
        if warnings:
            raise SystemExit(f"MLflow failed: {warnings}")
    finally:
        server.stop()
    times.sort()
    return {
        "startup_s": startup,
        "per_sweep_s": per_sweep,
        "median_s": statistics.median(times),
        "p90_s": times[int(0.9 * (len(times) - 1))],
        "mean_s": statistics.fmean(times),
        "requests": counter.count / len(times),
        "client_cpu_s": statistics.median(cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--only", choices=("tuned", "default"))
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "1")
    kinds = [args.only] if args.only else ["default", "tuned"]
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        rows = {kind: run(kind, args.trials, Path(tmp)) for kind in kinds}
    print(
        f"{'server':<8} {'startup s':>9} {'sweep s':>8} {'trial median s':>15} {'p90 s':>7} "
        f"{'mean s':>7} {'HTTP/trial':>10} {'client CPU s':>12}"
    )
    for kind, r in rows.items():
        print(
            f"{kind:<8} {r['startup_s']:9.1f} {r['per_sweep_s']:8.3f} {r['median_s']:15.3f} "
            f"{r['p90_s']:7.3f} {r['mean_s']:7.3f} {r['requests']:10.1f} {r['client_cpu_s']:12.3f}"
        )
    print(
        "MLflow seconds per trial (tuned local server, median): "
        f"{rows.get('tuned', rows[kinds[0]])['median_s']:.3f}"
    )


if __name__ == "__main__":
    main()
