"""Static-batch (TGI benchmark) math against hand-computed numbers and the seed's own figures."""

from __future__ import annotations

import math

import pytest

from workloads.records import RequestRecord
from workloads.static_batch import BatchRun, batch_run, batch_stats, summarize_static_batch

MS = 1_000_000


def _rec(times_ms: list[float], ok: bool = True) -> RequestRecord:
    times = [int(t * MS) for t in times_ms]
    return RequestRecord(0, 0, 0, times[-1] if times else 0, times, 100, len(times), ok)


def test_one_run_by_hand() -> None:
    """B=2, D=5: prefill ends when the last first token is out (105 ms); 4 decode steps, 45 ms."""
    run = batch_run([_rec([100, 110, 120, 130, 140]), _rec([105, 115, 125, 135, 150])], 0)
    assert run is not None
    assert run.prefill_latency_ms == 105.0
    assert run.decode_total_latency_ms == 45.0
    assert run.decode_token_latency_ms == 11.25
    assert run.prefill_throughput == pytest.approx(2 / 0.105)
    assert run.decode_throughput == pytest.approx(2 * 4 / 0.045)


def test_seed_001_relations() -> None:
    """Seed 001, TP 2, batch 1: decode total 4302.14 ms over 99 steps → 43.46 ms/token, 23.01 tok/s."""
    first = 65.65
    times = [first + i * 4302.14 / 99 for i in range(100)]
    run = batch_run([_rec(times)], 0)
    assert run is not None
    assert run.decode_token_latency_ms == pytest.approx(43.46, abs=0.01)
    assert run.decode_throughput == pytest.approx(23.01, abs=0.01)
    assert run.prefill_throughput == pytest.approx(1000 / 65.65)


def test_failed_or_empty_run_is_none() -> None:
    assert batch_run([_rec([1, 2]), _rec([], ok=False)], 0) is None
    assert batch_run([], 0) is None
    one = batch_run([_rec([7])], 0)  # D = 1: no decode step
    assert one is not None and math.isnan(one.decode_token_latency_ms) and math.isnan(one.decode_throughput)


def test_stats_and_summary() -> None:
    stats = batch_stats([1.0, 2.0, 3.0, 4.0], "x")
    assert stats == pytest.approx(
        {"x_avg": 2.5, "x_min": 1.0, "x_max": 4.0, "x_p50": 2.5, "x_p90": 3.7, "x_p99": 3.97}
    )
    runs = [BatchRun(4, p, 10.0 * p, p / 10, 4 / p, 1.0) for p in (1.0, 2.0, 3.0, 4.0)]
    out = summarize_static_batch([*runs, None], 4)
    assert out["prefill_latency_avg_ms"] == 2.5 and out["prefill_latency_p90_ms"] == pytest.approx(3.7)
    assert out["decode_total_latency_max_ms"] == 40.0 and out["decode_token_latency_min_ms"] == 0.1
    assert out["prefill_throughput_avg"] == pytest.approx((4 + 2 + 4 / 3 + 1) / 4)
    assert out["failed_runs"] == 1 and out["runs"] == 5 and out["valid"] is False
    assert summarize_static_batch(runs, 4)["valid"] is True


def _produced(times_ms: list[float], produced: int) -> RequestRecord:
    rec = _rec(times_ms)
    rec.output_tokens = produced
    return rec


def test_short_outputs_divide_by_the_tokens_produced() -> None:
    """Asked for 100, every request stopped at 40: 39 steps of 43 ms, not 39 × 43 / 99 ≈ 17 ms."""
    times = [65.0 + 43.0 * k for k in range(40)]
    run = batch_run([_produced(times, 40), _produced(times, 40)], 0)
    assert run is not None
    assert run.decode_total_latency_ms == pytest.approx(39 * 43.0)
    assert run.decode_token_latency_ms == pytest.approx(43.0)
    assert run.decode_throughput == pytest.approx(2 * 39 / (39 * 0.043))


def test_mixed_lengths_count_the_longest_steps_and_every_produced_token() -> None:
    """B=2: one request produced 5 tokens, one 3; 4 steps (the longest), 4 + 2 decode tokens."""
    run = batch_run([_produced([10, 20, 30, 40, 50], 5), _produced([10, 20, 30], 3)], 0)
    assert run is not None
    assert run.decode_total_latency_ms == 40.0 and run.decode_token_latency_ms == 10.0
    assert run.decode_throughput == pytest.approx(6 / 0.040)
    unknown = _produced([10, 20, 30], -1)  # no server count: its token events (TGI: one per token)
    assert batch_run([unknown], 0) == batch_run([_produced([10, 20, 30], 3)], 0)
