"""Co-tenancy windows, the exclusive-node rule, and the cost arithmetic (pure)."""

from __future__ import annotations

import math

import pytest

from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.execution.accounting import (
    Windows,
    cost_metrics,
    energy_metrics,
    overlap_s,
    settle,
    sweep_cost,
    usd_per_mtok,
)


def test_overlap() -> None:
    assert overlap_s(0, 10, 5, 20) == 5
    assert overlap_s(0, 10, 10, 20) == 0
    assert overlap_s(0, 10, 2, 3) == 1
    assert overlap_s(5, 6, 0, 10) == 1


def test_two_overlapping_windows_record_each_other() -> None:
    w = Windows()
    w.open("a", ["n1"], ["n1:0"], now=0.0)
    w.open("b", ["n1"], ["n1:1"], now=1.0)
    w.open("c", ["n2"], ["n2:0"], now=1.0)  # another node: never a co-tenant
    first = w.close("a", start=0.5, end=4.0, now=4.1)  # b still measuring
    assert first == [{"trial_id": "b", "gpus": ["n1:1"], "nodes": ["n1"], "overlap_s": 3.0, "ongoing": True}]
    second = w.close("b", start=1.2, end=6.0, now=6.0)  # a's exact window: 1.2 .. 4.0
    assert second == [
        {"trial_id": "a", "gpus": ["n1:0"], "nodes": ["n1"], "overlap_s": 2.8, "ongoing": False}
    ]
    w.open("d", ["n1"], ["n1:0"], now=7.0)
    assert w.close("d", 7.0, 8.0, 8.0) == []  # after both: alone


def test_exclusive_rule_is_per_node() -> None:
    w = Windows()
    assert not w.busy(["n1"])
    w.open("a", ["n1"], [], now=0.0)
    assert w.busy(["n1"]) and w.busy(["n2", "n1"]) and not w.busy(["n2"])
    w.close("a", 0.0, 1.0, 1.0)
    assert not w.busy(["n1"])
    w.open("b", ["n1", "n2"], [], now=2.0)  # a group spanning nodes holds both
    assert w.busy(["n2"])
    w.drop("b")
    assert not w.busy(["n2"])


def test_cost_arithmetic() -> None:
    # 2 GPUs at $3/h = $6/h for 1000 tok/s = 3.6 M tok/h -> $1.6667 per M tokens
    assert usd_per_mtok(3.0, 2, 1000.0) == pytest.approx(6 / 3.6)
    assert math.isnan(usd_per_mtok(3.0, 2, 0.0))
    m = {"output_token_throughput": 1000.0, "total_output_tokens": 320.0, "num_ok": 10.0, "sla_max_rate": 5.0}
    out = cost_metrics(m, gpus=2, held_s=30.0, measured_s=10.0, gpu_hour_usd=3.0)
    assert out["gpu_seconds_held"] == 60.0 and out["gpu_seconds_measured"] == 20.0
    assert out["usd_gpu_held"] == pytest.approx(3.0 * 60 / 3600)
    assert out["usd_per_mtok_output"] == pytest.approx(6 / 3.6)
    # at the SLO rate: 5 req/s x 32 tokens = 160 tok/s
    assert out["usd_per_mtok_output_at_slo"] == pytest.approx(6 / 3600 / 160 * 1e6)
    assert set(cost_metrics(m, 2, 30.0, 10.0, None)) == {"gpu_seconds_held", "gpu_seconds_measured"}
    assert energy_metrics({"total_output_tokens": 500.0}, [100.0, 150.0]) == {
        "gpu0_energy_j": 100.0, "gpu1_energy_j": 150.0, "gpu_energy_j": 250.0, "output_tokens_per_j": 2.0,
    }  # fmt: skip
    assert energy_metrics({}, []) == {}


def test_sweep_cost_sums_the_instances_gpu_seconds() -> None:
    held = [(2, 10.0, 40.0), (1, 5.0, 95.0), (4, 50.0, 0.0)]  # the last never released: nothing
    assert sweep_cost(held, 3.0) == {"gpu_seconds_held": 150.0, "gpu_hour_usd": 3.0, "usd": 0.125}
    assert sweep_cost(held, None) == {"gpu_seconds_held": 150.0, "gpu_hour_usd": None, "usd": None}
    assert sweep_cost([], 3.0)["usd"] == 0.0


def test_settle_flags_co_tenancy_and_costs_only_finished_trials() -> None:
    w = Windows()
    w.open("a", ["n1"], ["n1:0"], now=0.0)
    w.open("b", ["n1"], ["n1:1"], now=0.0)
    done = TrialResult(
        "a", Status.DONE, metrics={"output_token_throughput": 100.0}, started_at=0.0, ended_at=2.0
    )
    done.co_tenancy = {"cpu_percent": 50.0}
    settle(done, w, gpus=1, held_s=5.0, now=2.0, gpu_hour_usd=1.0)
    assert [f.kind for f in done.flags] == ["co_tenancy"] and not done.flags[0].fails
    assert "b (GPUs n1:1; 2.0 s, still measuring)" in done.flags[0].reason
    assert done.co_tenancy["cpu_percent"] == 50.0 and done.co_tenancy["others"][0]["trial_id"] == "b"
    assert done.metrics["co_tenants"] == 1.0 and done.metrics["gpu_seconds_held"] == 5.0
    failed = TrialResult("b", Status.FAILED, started_at=0.0, ended_at=3.0)
    settle(failed, w, gpus=1, held_s=5.0, now=3.0, gpu_hour_usd=1.0)
    assert failed.metrics == {} and failed.flags == [] and failed.co_tenancy["others"][0]["trial_id"] == "a"
