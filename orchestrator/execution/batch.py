"""Run one trial of a batch engine (command, FlexGen): a process per trial, metrics from its output."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from engines.base import BatchEngine, BatchSpec
from engines.process import ManagedProcess, classify_failure, tail
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.results import TrialResult
from orchestrator.core.status import FailureReason, Status
from orchestrator.core.trial import Trial

MAX_LOG_BYTES = 2_000_000


def run_batch_trial(
    engine: BatchEngine, cfg: EngineConfig, model: ModelConfig, trial: Trial, base: BatchSpec
) -> TrialResult:
    """Run the trial's command to completion (``engine.trial_timeout_s``) and parse its metrics."""
    spec = replace(base, work_dir=Path(base.work_dir) / trial.trial_id)
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    log_path = spec.work_dir / "engine.log"
    argv = engine.trial_command(cfg, model, trial, spec)
    proc = ManagedProcess(argv, log_path, env={**os.environ, **engine.env(cfg, spec)}, cwd=str(spec.work_dir))
    result = TrialResult(trial_id=trial.trial_id, status=Status.DONE, started_at=time.time())
    proc.start()
    code = proc.wait_exit(cfg.trial_timeout_s)
    if code is None:
        proc.stop()
        result.status, result.reason = Status.FAILED, FailureReason.TIMEOUT
        result.message = f"trial ran past engine.trial_timeout_s={cfg.trial_timeout_s:g}"
    elif code != 0:
        result.status = Status.FAILED
        result.reason = classify_failure(tail(log_path, 400), code)
        result.message = f"command exited with code {code}"
    else:
        log_text = _read(log_path)
        try:
            result.metrics = engine.parse_metrics(trial, spec, log_text)
        except ValueError as exc:  # e.g. an OOM the engine caught and exited 0 after
            result.status = Status.FAILED
            result.reason = classify_failure(tail(log_path, 400), code)
            result.message = f"no metrics: {exc}"
    result.ended_at = time.time()
    result.engine_log = _read(log_path)
    result.engine_info = {
        "engine": engine.name,
        "engine_version": engine.version(result.engine_log),  # FlexGen: printed, else installed
        "reference_version": cfg.reference_version,
        "gpu_ids": list(spec.gpu_ids),
        "command": argv,
        "exit_code": code,
    }
    return result


def _read(path: Path) -> str:
    try:
        return path.read_bytes()[-MAX_LOG_BYTES:].decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
