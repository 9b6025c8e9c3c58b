"""The node probe around a point (no GPU here): load and CPU use recorded, energy skipped with a reason."""

from __future__ import annotations

from engines.telemetry import NVMLEnergy
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.execution.probe import NodeProbe


def test_probe_without_gpu_records_load_and_why_no_energy() -> None:
    done = NodeProbe([]).start().finish(TrialResult("t", Status.DONE, metrics={"total_output_tokens": 10.0}))
    assert len(done.co_tenancy["load_avg_start"]) == 3 and len(done.co_tenancy["load_avg_end"]) == 3
    assert 0.0 <= done.co_tenancy["cpu_percent"] <= 100.0
    assert done.metrics["node_cpu_percent"] == done.co_tenancy["cpu_percent"]
    assert "gpu_energy_j" not in done.metrics
    assert done.engine_info["energy"] == "skipped: no GPU (the engine runs on CPU)"
    failed = NodeProbe([]).start().finish(TrialResult("t", Status.FAILED))
    assert failed.metrics == {} and "cpu_percent" in failed.co_tenancy  # a failed point has no numbers


def test_energy_on_a_gpu_id_without_nvml_is_skipped() -> None:
    energy = NVMLEnergy(["0"]).start()
    assert energy.joules() == [] and energy.skipped  # no NVML or no GPU on this machine
