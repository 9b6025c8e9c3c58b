"""Trials and results built directly (no engine): real configs, real store, plausible numbers."""

from __future__ import annotations

import math
import time
from pathlib import Path

from orchestrator.config.store import load_experiment
from orchestrator.core.results import TrialResult
from orchestrator.core.status import FailureReason, Status
from orchestrator.core.trial import Trial
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand

HF_TOKEN = "hf_plantedTokenAbc123XYZ987"
API_KEY = "sk-plantedKey0123456789abcdef"


def make_trials(results_dir: Path, *overrides: str) -> list[Trial]:
    cfg = load_experiment([f"results_dir={results_dir}", *overrides])
    return expand(cfg)


def make_result(trial: Trial, ok: bool = True, steps: bool = False) -> TrialResult:
    now = time.time()
    c = trial.point.concurrency
    records = [
        {"request_id": i, "ok": True, "ttft_ms": 10.0 + i, "e2e_ms": 50.0 + i, "output_tokens": 32}
        for i in range(8)
    ]
    info = {
        "engine": trial.engine.name,
        "engine_version": "0.0-test",
        "gpu_ids": [str(g) for g in range(trial.tp)],
        "startup_s": 1.5,
        "command": ["python", "-m", "vllm.entrypoints.openai.api_server", *trial.engine.extra_args],
        "node": {"hostname": "node-a", "cpu_model": "Test CPU", "cpu_count": "2", "gpus": ""},
    }
    log = "INFO starting\n" + "".join(f"INFO env {k}={v}\n" for k, v in trial.engine.env.items())
    log += f"INFO args {trial.engine.extra_args}\n"
    if not ok:
        info.pop("startup_s")  # the engine never became ready
        return TrialResult(
            trial.trial_id, Status.FAILED, FailureReason.ENGINE_CRASH, "engine died", engine_log=log,
            engine_info=info, started_at=now - 1, ended_at=now,
        )  # fmt: skip
    metrics = {
        "num_ok": 8.0,
        "num_errors": 0.0,
        "ttft_p50_ms": 10.0 * c,
        "tpot_p50_ms": 2.0 + trial.tp,
        "output_token_throughput": 100.0 * c / trial.tp,
        "goodput": math.nan,  # undefined: never logged, NaN in the comparison frame
    }
    series = [{"offered_rate": r, "ttft_p50_ms": 10.0 * r, "goodput": 0.9 * r} for r in (4, 0.5, 2)]
    return TrialResult(
        trial.trial_id, Status.DONE, metrics=metrics, records=records, engine_log=log, engine_info=info,
        started_at=now - 1, ended_at=now, steps=series if steps else [],
    )  # fmt: skip


def write_sweep(
    results_dir: Path, sweep_id: str, overrides: list[str], failed: int = 0
) -> tuple[ResultsStore, list[Trial]]:
    """A sweep dir as the app writes it: sweep.json, then each trial (the last ``failed`` FAILED)."""
    from dataclasses import asdict

    from orchestrator.execution.provenance import collect

    cfg = load_experiment([f"results_dir={results_dir}", *overrides])
    trials = expand(cfg)
    store = ResultsStore(results_dir, sweep_id)
    store.init_sweep(
        {"sweep_id": sweep_id, "name": cfg.name, "created_at": time.time(), "config": asdict(cfg),
         "provenance": collect()}
    )  # fmt: skip
    for i, trial in enumerate(trials):
        store.write(trial, make_result(trial, ok=i < len(trials) - failed))
    return store, trials
