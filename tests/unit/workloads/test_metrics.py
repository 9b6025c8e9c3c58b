"""Metrics over scripted records: definitions, exclusions, goodput, percentiles, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workloads.metrics import LATENCY_METRICS, STATS, latency_values_ms, summarize, tpot_ms
from workloads.records import ERROR_KINDS, RequestRecord

MS = 1_000_000


def rec(
    rid: int,
    sent_ms: float,
    token_ms: list[float],
    *,
    out: int | None = None,
    ok: bool = True,
    kind: str | None = None,
    warmup: bool = False,
    delay_ms: float = 0.0,
    inp: int = 10,
) -> RequestRecord:
    """A record from a scripted timeline in ms (token times are absolute)."""
    times = [int(t * MS) for t in token_ms]
    sent = int(sent_ms * MS)
    return RequestRecord(
        request_id=rid,
        scheduled_ns=sent - int(delay_ms * MS),
        sent_ns=sent,
        end_ns=times[-1] if times else sent + 5 * MS,
        token_times_ns=times,
        input_tokens=inp,
        output_tokens=len(times) if out is None else out,
        ok=ok,
        error_kind=kind,
        error=None if ok else "boom",
        warmup=warmup,
    )


SCRIPT = [
    rec(0, 0, [100, 120, 150, 200]),  # ttft 100, e2e 200, tpot 100/3
    rec(1, 10, [60, 70]),  # ttft 50, e2e 60, tpot 10
    rec(2, 20, [300]),  # one token: tpot undefined
    rec(3, 30, [], ok=False, kind="connect"),
    rec(4, 40, [90, 95], ok=False, kind="truncated"),
    rec(5, 50, [80, 2000], warmup=True),
]


def test_e2e_minus_ttft_equals_sum_of_itl_per_request_and_pooled() -> None:
    for r in SCRIPT:
        if r.token_times_ns:
            assert r.e2e_ns is not None and r.ttft_ns is not None
            assert r.e2e_ns - r.ttft_ns == sum(r.itl_ns)
    samples = latency_values_ms(r for r in SCRIPT if r.ok and not r.warmup)
    assert sum(samples["e2e"]) - sum(samples["ttft"]) == pytest.approx(sum(samples["itl"]))


def test_definitions_on_scripted_timeline() -> None:
    s = summarize(SCRIPT)
    assert s["ttft_mean_ms"] == pytest.approx((100 + 50 + 280) / 3)
    assert s["e2e_max_ms"] == pytest.approx(280)
    assert s["ttft_min_ms"] == pytest.approx(50)
    # TPOT: the one-token request is excluded, not counted as 0.
    assert s["tpot_mean_ms"] == pytest.approx((100 / 3 + 10) / 2)
    assert s["itl_max_ms"] == pytest.approx(50) and s["itl_min_ms"] == pytest.approx(10)
    assert tpot_ms(SCRIPT[2]) is None
    assert tpot_ms(rec(9, 0, [10, 20], out=-1)) is None


def test_errors_excluded_from_latency_but_counted_by_kind_and_warmup_excluded() -> None:
    s = summarize(SCRIPT, max_error_rate=0.5)
    assert (s["num_requests"], s["num_ok"], s["num_errors"]) == (5, 3, 2)
    assert s["error_rate"] == pytest.approx(0.4)
    assert s["errors_connect"] == 1 and s["errors_truncated"] == 1 and s["errors_http"] == 0
    assert all(f"errors_{k}" in s for k in ERROR_KINDS)
    # The truncated request's 50 ms TTFT and the warmup's 2000 ms token are nowhere.
    assert s["ttft_min_ms"] == pytest.approx(50) and s["e2e_max_ms"] == pytest.approx(280)
    # Window: first send (0 ms) .. last completion (300 ms); the warmup record ends at 2000 ms.
    assert s["duration_s"] == pytest.approx(0.3)
    assert s["request_throughput"] == pytest.approx(3 / 0.3)
    assert s["total_output_tokens"] == 7
    assert s["output_token_throughput"] == pytest.approx(7 / 0.3)
    assert s["input_token_throughput"] == pytest.approx(30 / 0.3)
    assert s["valid"] is True
    assert summarize(SCRIPT, max_error_rate=0.05)["valid"] is False


def test_goodput_counts_requests_meeting_every_slo() -> None:
    # Requests: (ttft, tpot, e2e) = (100, 33.3, 200), (50, 10, 60), (280, undefined, 280).
    assert summarize(SCRIPT)["goodput"] == pytest.approx(3 / 0.3)
    assert summarize(SCRIPT, slo={"ttft_ms": 120})["goodput"] == pytest.approx(2 / 0.3)
    assert summarize(SCRIPT, slo={"ttft_ms": 120, "tpot_ms": 20})["goodput"] == pytest.approx(1 / 0.3)
    assert summarize(SCRIPT, slo={"tpot_ms": 20})["goodput"] == pytest.approx(2 / 0.3)
    assert summarize(SCRIPT, slo={"e2e_ms": 10})["goodput"] == 0.0


def test_unknown_slo_key_raises_naming_key_and_allowed_keys() -> None:
    with pytest.raises(ValueError, match=r"'ttfb_ms'.*ttft_ms, tpot_ms, e2e_ms"):
        summarize(SCRIPT, slo={"ttfb_ms": 1.0})


def test_percentiles_match_numpy_linear_interpolation() -> None:
    rng = np.random.default_rng(0)
    records = []
    for i in range(97):
        sent = float(rng.uniform(0, 1000))
        gaps = rng.exponential(20, size=int(rng.integers(1, 12)))
        records.append(rec(i, sent, list(sent + 5 + np.cumsum(gaps))))
    s = summarize(records)
    samples = latency_values_ms(records)
    for name in LATENCY_METRICS:
        arr = np.asarray(samples[name])
        for q in (50, 90, 95, 99):
            assert s[f"{name}_p{q}_ms"] == pytest.approx(np.percentile(arr, q, method="linear"))
        assert s[f"{name}_std_ms"] == pytest.approx(arr.std())
        assert s[f"{name}_mean_ms"] == pytest.approx(arr.mean())


def test_peak_output_tokens_in_one_second_buckets() -> None:
    burst = [100 + 80 * i for i in range(10)]  # 10 events in the first second
    records = [rec(0, 0, [*burst, 1500]), rec(1, 0, [1600, 1700])]
    assert summarize(records)["peak_output_token_throughput"] == pytest.approx(10)
    # Server says 22 tokens over 11 events: 2 per event.
    records[0] = rec(0, 0, [*burst, 1500], out=22)
    assert summarize(records)["peak_output_token_throughput"] == pytest.approx(20)


def test_send_delay_percentiles_and_validity() -> None:
    records = [rec(i, i, [i + 10.0, i + 20.0], delay_ms=float(i)) for i in range(100)]
    s = summarize(records)
    delays = np.arange(100, dtype=float)
    assert s["send_delay_p50_ms"] == pytest.approx(np.percentile(delays, 50))
    assert s["send_delay_p99_ms"] == pytest.approx(np.percentile(delays, 99))
    assert s["valid"] is False
    assert summarize(records, max_send_delay_p99_ms=100.0)["valid"] is True


@pytest.mark.parametrize(
    "records",
    [[], [rec(0, 0, [], ok=False, kind="timeout")], [rec(0, 0, [1.0], warmup=True)]],
)
def test_empty_or_all_failed_never_crashes(records: list[RequestRecord]) -> None:
    s = summarize(records)
    for name in LATENCY_METRICS:
        for stat in STATS:
            assert math.isnan(s[f"{name}_{stat}_ms"])
    assert s["num_ok"] == 0 and s["total_output_tokens"] == 0
    assert s["request_throughput"] == 0.0 and s["goodput"] == 0.0
    assert s["peak_output_token_throughput"] == 0.0
    assert s["valid"] is False


def test_tokens_per_event_shows_coalesced_streams_and_tpot_stays_defined() -> None:
    one_event = rec(0, 0.0, [10.0], out=32)  # the whole stream in one SSE event
    streamed = rec(1, 0.0, [10.0, 12.0, 14.0, 16.0])
    s = summarize([one_event, streamed])
    assert s["tokens_per_event"] == pytest.approx((32 + 4) / 5)
    assert tpot_ms(one_event) == 0.0  # every token at once: honest 0, not missing
    assert math.isnan(summarize([rec(0, 0.0, [], ok=False, kind="connect")])["tokens_per_event"])


def test_itl_bunched_share_counts_gaps_of_events_delivered_together() -> None:
    # the delayed-ACK burst: first token late, the other seven in the same read
    burst = rec(0, 0.0, [45.0] + [45.0 + 0.01 * i for i in range(1, 8)])
    paced = rec(1, 0.0, [6.0 + 5.0 * i for i in range(8)])
    assert summarize([burst])["itl_bunched_share"] == 1.0
    assert summarize([paced])["itl_bunched_share"] == 0.0
    assert summarize([burst, paced])["itl_bunched_share"] == pytest.approx(0.5)
    assert math.isnan(summarize([rec(0, 0.0, [5.0])])["itl_bunched_share"])  # one token: no gap
    warm = rec(2, 0.0, [1.0, 1.0, 1.0], warmup=True)
    assert summarize([paced, warm])["itl_bunched_share"] == 0.0  # warmups are left out
