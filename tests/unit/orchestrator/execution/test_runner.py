"""Why a finished but invalid trial failed: the limit it crossed, named with its config field."""

from __future__ import annotations

from orchestrator.core.load import LoadSpec
from orchestrator.core.status import FailureReason
from orchestrator.execution.runner import invalid_reason

POINT = LoadSpec(
    name="poisson", api="completions", concurrency=0, input_len=8, output_len=8, num_requests=10,
    warmup_requests=0, ignore_eos=True, temperature=0.0, timeout_s=5.0, seed=0, max_error_rate=0.05,
    rate=4.0, max_send_delay_ms=10.0,
)  # fmt: skip


def test_error_rate_over_the_limit_is_request_errors() -> None:
    reason, msg = invalid_reason({"num_requests": 10, "error_rate": 0.2}, POINT)
    assert reason is FailureReason.REQUEST_ERRORS
    assert "workload.max_error_rate=0.05" in msg and "20.00%" in msg


def test_late_client_is_client_behind_naming_the_limit() -> None:
    metrics = {"num_requests": 10, "error_rate": 0.0, "send_delay_p99_ms": 13.8}
    reason, msg = invalid_reason(metrics, POINT)
    assert reason is FailureReason.CLIENT_BEHIND
    assert "13.8 ms" in msg and "workload.max_send_delay_ms=10" in msg


def test_nothing_sent_is_request_errors() -> None:
    reason, msg = invalid_reason({"num_requests": 0}, POINT)
    assert reason is FailureReason.REQUEST_ERRORS and "num_requests" in msg


def test_a_failed_static_batch_run_is_request_errors_not_client_behind() -> None:
    import dataclasses

    point = dataclasses.replace(POINT, name="static_batch", batch_size=2, runs=10, warmups=1)
    metrics = {"num_requests": 20, "error_rate": 0.01, "failed_runs": 1, "send_delay_p99_ms": 0.0}
    reason, msg = invalid_reason(metrics, point)
    assert reason is FailureReason.REQUEST_ERRORS and msg.startswith("1 of 10 static-batch runs")
