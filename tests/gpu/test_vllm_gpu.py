"""On a GPU machine: vLLM at TP 1 on the tiny local model, one workload point, NVML peak memory; with
more than one GPU visible, vLLM at TP = the visible GPUs (a power of two), one rank per GPU."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engines.process import group_alive
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.execution.runner import EngineRunner
from orchestrator.sweep.grid import expand
from orchestrator.sweep.placement import ALLOWED_TP, detect_local_gpus

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(detect_local_gpus() == 0, reason="no NVIDIA GPU on this machine"),
]


def run_gpu_point(tmp_path: Path, gpus: list[str]) -> tuple[EngineRunner, dict[str, Any], TrialResult]:
    """vLLM on ``gpus`` (TP = their number) with the tiny model: one point of 16 requests at
    concurrency 4 (64 in, 32 out, 2 warmups); the engine is stopped before returning."""
    cfg = ExperimentConfig()
    cfg.engine.tp = [len(gpus)]
    cfg.engine.gpu_memory_utilization = 0.3
    cfg.engine.enforce_eager = True  # no CUDA-graph capture: a quicker start
    cfg.resources.device = "gpu"
    w = cfg.workload
    w.concurrency, w.input_len, w.output_len, w.num_requests, w.warmup_requests = [4], [64], [32], 16, 2
    trial = expand(cfg)[0]
    runner = EngineRunner(trial.engine, trial.model, trial.tp, "gpu", tmp_path)
    try:
        info = runner.start(gpus)
        result = runner.run_point(trial)
    finally:
        runner.stop()
    assert result.status == Status.DONE, result.message + runner.log_text()[-3000:]
    return runner, info, result


def test_vllm_tp1_point_records_nvml_peak_memory(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    runner, info, result = run_gpu_point(tmp_path, ["0"])
    m = result.metrics
    peak = m["engine_gpu_mem_peak_mib"]
    record_property("engine_version", info["engine_version"])
    record_property("engine_gpu_mem_peak_mib", peak)
    print(f"vLLM {info['engine_version']} TP1 tiny model: NVML peak GPU memory {peak:.0f} MiB")
    assert peak > 0
    assert info["tensor_parallel_size"] == 1 and info["device_ids"] == ["0"]
    assert m["engine_generation_tokens"] == 18 * 32
    assert m["total_output_tokens"] == 16 * 32
    assert runner.process is not None and runner.process.pgid is not None
    assert not group_alive(runner.process.pgid)


def visible_gpu_ids() -> list[str]:
    """The GPU ids as the engine's CUDA_VISIBLE_DEVICES must name them (physical, or as given)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(detect_local_gpus())]


@pytest.mark.skipif(detect_local_gpus() < 2, reason="needs more than one visible GPU")
def test_vllm_tp_is_the_number_of_visible_gpus(tmp_path: Path) -> None:
    """On GPU nothing changed: CUDA_VISIBLE_DEVICES from the actor's GPUs, TP = engine.tp; here TP =
    every visible GPU (the largest allowed TP they hold), and the record names one rank per GPU."""
    gpus = visible_gpu_ids()
    tp = max(t for t in ALLOWED_TP if t <= len(gpus))
    runner, info, _ = run_gpu_point(tmp_path, gpus[:tp])
    argv = info["command"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == str(tp)
    assert info["tensor_parallel_size"] == tp and info["device_ids"] == gpus[:tp]
    assert sorted(w["gpu"] for w in info["workers"]) == sorted(gpus[:tp])
    assert "cpu_cores" not in info  # on GPU no core lease: nothing changes for the user
    assert runner.process is not None and runner.process.pgid is not None
    assert not group_alive(runner.process.pgid)
