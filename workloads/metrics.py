"""Trial metrics from per-request records: pure functions, no I/O, no clocks.

Definitions (client clock, ``time.perf_counter_ns``; results in milliseconds):

* TTFT = first token event - sent. E2E = last token event - sent. A token event is an SSE event
  that carried at least one token (non-empty text).
* TPOT = (E2E - TTFT) / (N_out - 1), with N_out the server-reported output tokens (or a tokenizer
  count of the text; never the number of SSE events). Undefined, hence excluded, when N_out <= 1
  or unknown (-1).
* ITL = gaps between consecutive token events, pooled across requests; per request
  E2E - TTFT == sum(ITL).
* Throughputs divide by the window from the first send to the last completion (all requests).
  ``peak_output_token_throughput`` is the busiest 1 s bucket (buckets start at the first send).
* Goodput = successful requests meeting every SLO given, per second of the same window.
* Send delay = sent - scheduled: how late the client sent compared with the strategy's plan.
* Tokens per event = output tokens / token events: above 1 when tokens arrived coalesced.
* Bunched ITL share (``itl_bunched_share``) = share of the pooled ITL gaps below
  :data:`BUNCHED_ITL_MS`: events that reached the client together although each carried its own
  token (read by the ``bunched_stream`` check, :mod:`workloads.checks`); NaN without gaps.
* Output lengths (:func:`output_lengths`): every per-token figure above divides by the tokens a
  request produced, never by the requested ``max_tokens``; ``num_short_outputs`` counts the
  measured successful requests that produced fewer than they asked for (``min_output_tokens``,
  ``max_short_output_tokens``, ``requested_output_tokens`` give the figures), which the
  ``short_outputs`` check (:mod:`workloads.checks`) reads.
* Statistics: mean, std (population, ddof=0), min, max, p50/p90/p95/p99 (numpy linear interpolation).

Warmup records are excluded from everything. Latencies use successful records only; errors are
counted per kind beside them. Empty inputs give NaN latencies and zero counts.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from workloads.records import ERROR_KINDS, RequestRecord

LATENCY_METRICS: tuple[str, ...] = ("ttft", "tpot", "itl", "e2e")
STATS: tuple[str, ...] = ("mean", "std", "min", "max", "p50", "p90", "p95", "p99")
SLO_KEYS: tuple[str, ...] = ("ttft_ms", "tpot_ms", "e2e_ms")
_NS_PER_MS = 1e6
_NS_PER_S = 1e9
BUNCHED_ITL_MS = 0.2
"""An ITL gap below this is two events delivered together, not two decode steps: the client stamps
the events of one socket read (or one event-loop pass) within microseconds of each other, while no
engine's decode step (forward, sampling, detokenize, HTTP write) is shorter than ~1 ms."""

Summary = dict[str, float | int | bool]


def tpot_ms(record: RequestRecord) -> float | None:
    """(E2E - TTFT) / (N_out - 1) in ms; None when N_out <= 1, unknown, or no token arrived."""
    ttft, e2e = record.ttft_ns, record.e2e_ns
    if ttft is None or e2e is None or record.output_tokens <= 1:
        return None
    return (e2e - ttft) / (record.output_tokens - 1) / _NS_PER_MS


def describe(values_ms: Iterable[float], prefix: str) -> dict[str, float]:
    """``{prefix}_{stat}_ms`` for every stat in :data:`STATS`; NaN for an empty input."""
    arr = np.asarray(list(values_ms), dtype=np.float64)
    if arr.size == 0:
        return {f"{prefix}_{stat}_ms": math.nan for stat in STATS}
    p50, p90, p95, p99 = np.percentile(arr, [50, 90, 95, 99])
    values = (arr.mean(), arr.std(), arr.min(), arr.max(), p50, p90, p95, p99)
    return {f"{prefix}_{stat}_ms": float(v) for stat, v in zip(STATS, values, strict=True)}


def latency_values_ms(records: Iterable[RequestRecord]) -> dict[str, list[float]]:
    """Per-metric latency samples (ms) of the given records, ITL pooled across them."""
    out: dict[str, list[float]] = {name: [] for name in LATENCY_METRICS}
    for rec in records:
        if rec.ttft_ns is not None and rec.e2e_ns is not None:
            out["ttft"].append(rec.ttft_ns / _NS_PER_MS)
            out["e2e"].append(rec.e2e_ns / _NS_PER_MS)
        out["itl"].extend(gap / _NS_PER_MS for gap in rec.itl_ns)
        tpot = tpot_ms(rec)
        if tpot is not None:
            out["tpot"].append(tpot)
    return out


def meets_slo(record: RequestRecord, slo: Mapping[str, float]) -> bool:
    """True when a successful record meets every SLO; undefined TPOT (N_out <= 1) passes it.

    A record without any token event has no TTFT/E2E and fails those SLOs.
    """
    if not record.ok:
        return False
    values = {
        "ttft_ms": None if record.ttft_ns is None else record.ttft_ns / _NS_PER_MS,
        "e2e_ms": None if record.e2e_ns is None else record.e2e_ns / _NS_PER_MS,
        "tpot_ms": tpot_ms(record),
    }
    for key, limit in slo.items():
        value = values[key]
        if value is None and key != "tpot_ms":
            return False
        if value is not None and value > limit:
            return False
    return True


def validate_slo(slo: Mapping[str, float]) -> None:
    """Raise ``ValueError`` naming an unknown SLO key and the allowed ones."""
    for key in slo:
        if key not in SLO_KEYS:
            raise ValueError(f"unknown SLO key {key!r}; allowed keys: {', '.join(SLO_KEYS)}")


def peak_output_token_throughput(records: Sequence[RequestRecord], start_ns: int) -> float:
    """Most output tokens in any 1 s bucket (from ``start_ns``), in tokens/s.

    A token event counts as one token unless the record's known output_tokens differs from its
    event count; then that record's output_tokens are spread evenly over its events.
    """
    buckets: defaultdict[int, float] = defaultdict(float)
    for rec in records:
        n_events = len(rec.token_times_ns)
        if n_events == 0:
            continue
        known = rec.output_tokens >= 0 and rec.output_tokens != n_events
        weight = rec.output_tokens / n_events if known else 1.0
        for t in rec.token_times_ns:
            buckets[(t - start_ns) // int(_NS_PER_S)] += weight
    return max(buckets.values(), default=0.0)


def tokens_per_event(records: Sequence[RequestRecord]) -> float:
    """Output tokens per token-bearing SSE event (1.0 = one token per event; NaN when unknown).

    Above 1 the server or a late client coalesced tokens into one event, so TPOT/ITL are
    measured over fewer, larger steps (TPOT is 0 for a request whose tokens all came at once).
    """
    known = [r for r in records if r.output_tokens >= 0 and r.token_times_ns]
    events = sum(len(r.token_times_ns) for r in known)
    return sum(r.output_tokens for r in known) / events if events else math.nan


def bunched_share(itl_ms: Sequence[float]) -> float:
    """Share of the ITL gaps below :data:`BUNCHED_ITL_MS` (NaN when there is no gap)."""
    return sum(g < BUNCHED_ITL_MS for g in itl_ms) / len(itl_ms) if itl_ms else math.nan


def output_lengths(records: Sequence[RequestRecord], requested: Callable[[RequestRecord], int]) -> Summary:
    """Produced against requested output lengths over the measured successful records.

    ``requested(record)`` is the ``max_tokens`` that record asked for. Records with an unknown
    count (-1) are left out. ``requested_output_tokens`` is the largest requested length;
    ``min_output_tokens`` the fewest tokens any request produced; ``max_short_output_tokens`` the
    most a short request produced (NaN when none was short).
    """
    known = [r for r in records if not r.warmup and r.ok and r.output_tokens >= 0]
    short = [r.output_tokens for r in known if r.output_tokens < requested(r)]
    return {
        "num_output_checked": len(known),
        "num_short_outputs": len(short),
        "min_output_tokens": min((r.output_tokens for r in known), default=math.nan),
        "max_short_output_tokens": max(short, default=math.nan),
        "requested_output_tokens": max((requested(r) for r in known), default=math.nan),
    }


def _percentile_ms(values_ns: Sequence[int], q: float) -> float:
    return (
        float(np.percentile(np.asarray(values_ns, dtype=np.float64), q)) / _NS_PER_MS
        if values_ns
        else math.nan
    )


def summarize(
    records: Sequence[RequestRecord],
    *,
    slo: Mapping[str, float] | None = None,
    max_error_rate: float = 0.05,
    max_send_delay_p99_ms: float = 10.0,
) -> Summary:
    """Flat trial summary (see the module docstring for every definition).

    ``valid`` is False when there were no requests, the error rate exceeds ``max_error_rate``, or
    the send-delay p99 exceeds ``max_send_delay_p99_ms`` (the client, not the server, was slow).
    """
    slo = dict(slo or {})
    validate_slo(slo)
    measured = [r for r in records if not r.warmup]
    ok = [r for r in measured if r.ok]
    errors = Counter(r.error_kind or "unknown" for r in measured if not r.ok)
    out: Summary = {}
    samples = latency_values_ms(ok)
    for name in LATENCY_METRICS:
        out.update(describe(samples[name], name))

    num = len(measured)
    start_ns = min((r.sent_ns for r in measured), default=0)
    end_ns = max((r.end_ns for r in measured), default=0)
    duration_s = (end_ns - start_ns) / _NS_PER_S if measured else 0.0
    total_out = sum(r.output_tokens for r in ok if r.output_tokens >= 0)
    total_in = sum(r.input_tokens for r in ok if r.input_tokens >= 0)

    def rate(count: float) -> float:
        return count / duration_s if duration_s > 0 else math.nan if count else 0.0

    delays = [r.send_delay_ns for r in measured]
    out.update(
        num_requests=num,
        num_ok=len(ok),
        num_errors=num - len(ok),
        error_rate=(num - len(ok)) / num if num else 0.0,
        **{f"errors_{kind}": errors.get(kind, 0) for kind in (*ERROR_KINDS, *sorted(errors))},
        duration_s=duration_s,
        total_input_tokens=total_in,
        total_output_tokens=total_out,
        request_throughput=rate(len(ok)),
        input_token_throughput=rate(total_in),
        output_token_throughput=rate(total_out),
        peak_output_token_throughput=peak_output_token_throughput(ok, start_ns),
        goodput=rate(sum(meets_slo(r, slo) for r in ok)),
        tokens_per_event=tokens_per_event(ok),
        itl_bunched_share=bunched_share(samples["itl"]),
        send_delay_p50_ms=_percentile_ms(delays, 50),
        send_delay_p99_ms=_percentile_ms(delays, 99),
    )
    out["valid"] = bool(
        num > 0
        and out["error_rate"] <= max_error_rate
        and not out["send_delay_p99_ms"] > max_send_delay_p99_ms
    )
    return out
