"""Constraints stop a run on request count, duration, error count and error rate."""

from __future__ import annotations

from workloads.constraints import MIN_FOR_ERROR_RATE, Constraints, StopTracker
from workloads.records import RequestRecord


def _rec(ok: bool) -> RequestRecord:
    return RequestRecord(0, 0, 0, 1, [1] if ok else [], 1, 1, ok, None if ok else "http")


def test_no_limits_never_stops() -> None:
    t = StopTracker(Constraints())
    for i in range(1000):
        t.on_send(i)
        t.on_record(_rec(False))
    assert t.stop_reason(10**12) == ""


def test_max_requests() -> None:
    t = StopTracker(Constraints(max_requests=3))
    for i in range(3):
        assert t.stop_reason(i) == ""
        t.on_send(i)
    assert t.stop_reason(4) == "max_requests"


def test_duration_counts_from_first_send() -> None:
    t = StopTracker(Constraints(duration_s=2.0))
    assert t.stop_reason(0) == ""
    t.on_send(5_000_000_000)
    assert t.deadline_ns() == 7_000_000_000
    assert t.stop_reason(6_999_999_999) == ""
    assert t.stop_reason(7_000_000_000) == "duration"
    assert t.reason == "duration" and t.stop_reason(0) == "duration"  # sticky


def test_max_errors() -> None:
    t = StopTracker(Constraints(max_errors=2))
    t.on_record(_rec(True))
    t.on_record(_rec(False))
    assert t.stop_reason(0) == ""
    t.on_record(_rec(False))
    assert t.stop_reason(0) == "max_errors"


def test_error_rate_needs_enough_finished_requests() -> None:
    t = StopTracker(Constraints(abort_error_rate=0.2))
    t.on_record(_rec(False))  # 100 % errors, but one request is noise
    assert t.stop_reason(0) == ""
    for _ in range(MIN_FOR_ERROR_RATE - 1):
        t.on_record(_rec(True))
    assert t.errors / t.finished == 0.1 and t.stop_reason(0) == ""
    for _ in range(3):
        t.on_record(_rec(False))
    assert t.stop_reason(0) == "max_error_rate"
