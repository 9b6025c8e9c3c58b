"""Breakdowns of a point's records: reasoning and answer first tokens, cached prompt tokens, turns."""

from __future__ import annotations

import math
from typing import Any

import pytest

from workloads.breakdowns import breakdowns, cached_metrics, reasoning_metrics, turn_metrics
from workloads.records import RequestRecord

MS = 1_000_000


def rec(i: int, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = dict(
        request_id=i, scheduled_ns=0, sent_ns=0, end_ns=50 * MS, token_times_ns=[10 * MS, 30 * MS, 50 * MS],
        input_tokens=100, output_tokens=3, ok=True,
    )  # fmt: skip
    return RequestRecord(**{**base, **kw})


def test_reasoning_and_answer_first_tokens_and_counts() -> None:
    records = [
        rec(0, first_reasoning_ns=10 * MS, first_answer_ns=30 * MS, reasoning_tokens=2),
        rec(1, first_reasoning_ns=10 * MS, first_answer_ns=50 * MS, reasoning_tokens=1, output_tokens=5),
        rec(2, first_reasoning_ns=20 * MS, first_answer_ns=-1),  # all reasoning, no count reported
    ]
    m = reasoning_metrics(records)
    assert m["reasoning_ttft_p50_ms"] == 10 and m["reasoning_ttft_max_ms"] == 20
    assert m["answer_ttft_mean_ms"] == 40 and m["answer_ttft_min_ms"] == 30  # two answered
    assert m["num_reasoning_reported"] == 2
    assert m["total_reasoning_tokens"] == 3 and m["total_answer_tokens"] == 5
    assert m["reasoning_token_share"] == pytest.approx(3 / 8)


def test_nothing_is_added_without_reasoning_or_cache_reports() -> None:
    plain = [rec(0, first_answer_ns=10 * MS), rec(1)]
    assert reasoning_metrics(plain) == {} and cached_metrics(plain) == {} and breakdowns(plain) == {}


def test_cached_token_rate_over_the_records_that_reported_it() -> None:
    records = [rec(0, cached_tokens=64), rec(1, cached_tokens=0, input_tokens=28), rec(2)]
    assert cached_metrics(records) == {
        "num_cached_reported": 2,
        "total_cached_tokens": 64,
        "cached_token_rate": 64 / 128,
    }


def test_turn_metrics_per_turn_index_and_sessions() -> None:
    records = [
        rec(0, warmup=True),
        rec(1, session=0, turn=1, cached_tokens=0, input_tokens=40),
        rec(2, session=0, turn=2, cached_tokens=32, input_tokens=84, token_times_ns=[20 * MS, 50 * MS]),
        rec(3, session=1, turn=1, cached_tokens=0, input_tokens=40),
        rec(4, session=1, turn=2, ok=False, error_kind="http", token_times_ns=[]),
    ]
    m = turn_metrics(records, planned_turns={0: 2, 1: 2})
    assert m["num_sessions"] == 2 and m["num_sessions_complete"] == 1 and m["max_turn"] == 2
    assert (m["turn1_num_requests"], m["turn1_num_ok"], m["turn2_num_requests"], m["turn2_num_ok"]) == (
        2,
        2,
        2,
        1,
    )
    assert m["turn1_ttft_p50_ms"] == 10 and m["turn2_ttft_p50_ms"] == 20 and m["turn2_e2e_p99_ms"] == 50
    assert m["turn1_tpot_mean_ms"] == 20  # (50 - 10) / (3 - 1)
    assert m["turn1_input_tokens_mean"] == 40 and m["turn2_input_tokens_mean"] == 84
    assert m["turn1_cached_token_rate"] == 0 and m["turn2_cached_token_rate"] == pytest.approx(32 / 84)
    assert not any(k.startswith("turn0") or k.startswith("turn3") for k in m)
    assert turn_metrics([rec(0)]) == {}  # not a conversation


def test_an_empty_turn_sample_is_nan_not_zero() -> None:
    m = turn_metrics([rec(1, session=0, turn=1, ok=False, token_times_ns=[])])
    assert (
        m["turn1_num_ok"] == 0
        and math.isnan(m["turn1_ttft_p50_ms"])
        and math.isnan(m["turn1_input_tokens_mean"])
    )
