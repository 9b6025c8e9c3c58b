"""FlexGen trials end to end through run_batch_trial: real processes, a flex_opt stand-in (no CUDA here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engines.base import BatchSpec
from engines.flexgen.config import FlexGenConfig
from engines.flexgen.engine import FlexGenEngine
from orchestrator.config.schema import EngineConfig, ExperimentConfig, ModelConfig
from orchestrator.core.status import FailureReason, Status
from orchestrator.execution.batch import run_batch_trial
from orchestrator.sweep.grid import expand

pytestmark = pytest.mark.integration

FAKE = Path(__file__).parents[2] / "engines" / "standins" / "fake_flex_opt.py"


def test_sweep_of_num_gpu_batches_with_an_oom(tmp_path: Path) -> None:
    cfg = ExperimentConfig()
    cfg.engine = EngineConfig(
        name="flexgen", tp=[1], flexgen=FlexGenConfig(command=f"{sys.executable} {FAKE}"),
        sweep={"flexgen.num_gpu_batches": [4, 32]}, trial_timeout_s=60,
    )  # fmt: skip
    cfg.model = ModelConfig(name="opt-6.7b", path="facebook/opt-6.7b", max_model_len=2048)
    cfg.workload.concurrency, cfg.workload.input_len, cfg.workload.output_len = [1], [512], [32]
    trials = expand(cfg)
    results = []
    for t in trials:
        spec = BatchSpec("facebook/opt-6.7b", 1, "gpu", tmp_path, ())
        results.append(run_batch_trial(FlexGenEngine(), t.engine, t.model, t, spec))
    ok, oom = results
    assert ok.status == Status.DONE, ok.message + ok.engine_log
    assert ok.metrics["total_latency_s"] == pytest.approx(2.64)
    assert ok.metrics["peak_gpu_mem_gb"] == pytest.approx(4.7)
    assert ok.metrics["cache_size_gb"] == pytest.approx(3.188)
    assert "--num-gpu-batches" in ok.engine_info["command"]
    assert ok.engine_info["engine_version"] == "0.1.7-standin"  # printed by the stand-in
    assert ok.metrics["projected"] == 0.0  # no --cut-gen-len: FlexGen measured every token
    assert (oom.status, oom.reason) == (Status.FAILED, FailureReason.OOM)
    assert oom.metrics == {} and "CUDA out of memory" in oom.engine_log


def test_exit_zero_without_results_is_failed(tmp_path: Path) -> None:
    cfg = ExperimentConfig()
    fg = FlexGenConfig(command=f"{sys.executable} {FAKE}", debug_mode="breakdown")
    cfg.engine = EngineConfig(name="flexgen", tp=[1], flexgen=fg, trial_timeout_s=60)
    cfg.workload.concurrency = [1]
    trial = expand(cfg)[0]
    spec = BatchSpec("facebook/opt-1.3b", 1, "gpu", tmp_path, ())
    result = run_batch_trial(FlexGenEngine(), trial.engine, trial.model, trial, spec)
    assert (result.status, result.reason) == (Status.FAILED, FailureReason.ENGINE_CRASH)
    assert "no total_latency_s" in result.message and result.metrics == {}


def test_cut_gen_len_is_projected(tmp_path: Path) -> None:
    cfg = ExperimentConfig()
    fg = FlexGenConfig(command=f"{sys.executable} {FAKE}", cut_gen_len=8)
    cfg.engine = EngineConfig(
        name="flexgen", tp=[1], flexgen=fg, trial_timeout_s=60, reference_version="0.1.7"
    )
    cfg.model = ModelConfig(name="opt-1.3b", path="facebook/opt-1.3b", max_model_len=2048)
    cfg.workload.concurrency, cfg.workload.input_len, cfg.workload.output_len = [1], [128], [32]
    trial = expand(cfg)[0]
    spec = BatchSpec("facebook/opt-1.3b", 1, "gpu", tmp_path, ())
    result = run_batch_trial(FlexGenEngine(), trial.engine, trial.model, trial, spec)
    assert result.status == Status.DONE, result.message + result.engine_log
    assert result.metrics["projected"] == 1.0 and "projected: True" in result.engine_log
    assert result.engine_info["reference_version"] == "0.1.7"
