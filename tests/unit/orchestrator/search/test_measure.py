"""A stored sla_search result as a measurement: the rate, its upper bound, goodput, interactivity."""

from __future__ import annotations

import math

import pytest

from orchestrator.core.status import Status
from orchestrator.search.measure import from_result, rate_bound

STEPS = [
    {"step": 0.0, "offered_rate": math.inf, "request_throughput": 9.0},
    {"step": 1.0, "offered_rate": 9.0, "slo_passed": 0.0},
    {"step": 2.0, "offered_rate": 2.0, "slo_passed": 1.0},
    {"step": 3.0, "offered_rate": 5.5, "slo_passed": 0.0},
    {"step": 4.0, "offered_rate": 3.75, "slo_passed": 1.0},
]


def result(**changes: object) -> dict:  # type: ignore[type-arg]
    out = {
        "trial_id": "t1", "tp": 2, "status": "DONE", "steps": STEPS, "started_at": 10.0, "ended_at": 70.0,
        "metrics": {"sla_max_rate": 3.75, "output_token_throughput": 110.0, "num_ok": 30,
                    "total_output_tokens": 960, "ttft_p99_ms": 120.0, "tpot_p99_ms": 30.0,
                    "e2e_p99_ms": 900.0, "tpot_p50_ms": 20.0, "gpu_seconds_held": 180.0},
        "engine_info": {"startup_s": 40.0},
    }  # fmt: skip
    out.update(changes)
    return out


def test_from_result() -> None:
    m = from_result(result(), "c1", 1, output_len=32)
    assert m.ok and m.rate == 3.75 and m.rate_upper == 5.5  # the lowest failing probe above it
    assert m.tokens_per_request == 32.0 and m.goodput == 110.0 and m.goodput_per_gpu == 55.0
    assert m.upper_per_gpu == pytest.approx(5.5 * 32 / 2)
    assert m.interactivity == 50.0 and m.p99_ms == {"ttft_ms": 120.0, "tpot_ms": 30.0, "e2e_ms": 900.0}
    assert m.startup_s == 40.0 and m.held_gpu_s == 180.0 and m.measured_s == 60.0
    assert m.per_gpu_hour(55.0, 3600.0) == pytest.approx(55.0 * 3600 * 3600 / 3640)


def test_bound_is_the_measured_maximum_when_the_top_probe_passed() -> None:
    steps = [{"offered_rate": math.inf, "request_throughput": 9.0}, {"offered_rate": 9.0, "slo_passed": 1.0}]
    assert rate_bound(steps, 9.0) == 9.0
    assert (
        rate_bound([{"offered_rate": 4.0, "slo_passed": 0.0}], None) == 4.0
    )  # none passed: below the lowest
    assert rate_bound([], 3.0) == 3.0


def test_no_rate_and_failed() -> None:
    none = from_result(result(metrics={"sla_max_rate": math.nan, "output_token_throughput": 5.0}), "c", 0, 32)
    assert not none.ok and none.goodput == 0.0 and none.status == Status.DONE
    failed = from_result(result(status="FAILED", reason="oom", metrics={}, steps=[]), "c", 0, 32)
    assert not failed.ok and failed.reason == "oom" and not failed.retried
    assert from_result(result(status="FAILED", reason="interrupted", metrics={}), "c", 0, 32).retried
