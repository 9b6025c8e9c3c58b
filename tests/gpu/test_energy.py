"""On a GPU machine: NVML's total-energy counter read around a point of GPU work, and the probe
that turns it into a finished point's energy metrics."""

from __future__ import annotations

import time

import pytest

from engines.telemetry import NVMLEnergy
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.execution.probe import NodeProbe
from orchestrator.sweep.placement import detect_local_gpus

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(detect_local_gpus() == 0, reason="no NVIDIA GPU on this machine"),
]


def busy_gpu(seconds: float) -> None:
    """Matrix products on GPU 0 for about ``seconds`` (torch when installed, else an idle wait)."""
    try:
        import torch
    except ImportError:
        time.sleep(seconds)
        return
    x = torch.randn(4096, 4096, device="cuda:0")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        x = (x @ x).clamp_(-1, 1)
    torch.cuda.synchronize()


def test_energy_counter_around_a_point() -> None:
    energy = NVMLEnergy(["0"]).start()
    if energy.skipped:
        pytest.skip(f"energy counter: {energy.skipped}")
    busy_gpu(2.0)
    (joules,) = energy.joules()
    assert joules > 0, "a GPU drew no energy over 2 s"
    assert joules < 2.0 * 1500, "more than 1.5 kW for 2 s: the counter is not in mJ"


def test_probe_adds_energy_and_tokens_per_joule() -> None:
    probe = NodeProbe(["0"]).start()
    busy_gpu(1.0)
    result = probe.finish(TrialResult("t", Status.DONE, metrics={"total_output_tokens": 1000.0}))
    if "energy" in result.engine_info:
        pytest.skip(result.engine_info["energy"])
    assert (
        result.metrics["gpu0_energy_j"] > 0
        and result.metrics["gpu_energy_j"] == result.metrics["gpu0_energy_j"]
    )
    assert result.metrics["output_tokens_per_j"] == pytest.approx(1000.0 / result.metrics["gpu_energy_j"])
