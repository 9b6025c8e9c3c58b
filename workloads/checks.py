"""The tool's checks of its own numbers: one finished point's metrics → its validity flags (pure).

Each check reads the point's spec and flat metrics (the load generator's summary merged with the
engine telemetry, ``engine_*``) and returns a :class:`orchestrator.core.validity.Flag` when the run did not
measure what it claims. :func:`check_point` runs them all; the runner turns a failing flag into a
FAILED trial with that reason. (``client_behind`` and ``request_errors`` come from the summary's
``valid``, which knows whether the strategy had a send schedule; the runner adds their flag.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.core.load import CACHE_REUSE_DATASETS, LoadSpec, Strategy
from orchestrator.core.validity import Flag, FlagKind
from workloads.metrics import BUNCHED_ITL_MS
from workloads.stats import coefficient_of_variation

COALESCED_TOKENS_PER_EVENT = 1.05
"""Above this many output tokens per token event, TPOT/ITL are measured over coalesced steps."""

BUNCHED_MAX_SHARE = 0.5
"""Above this share of ITL gaps under :data:`workloads.metrics.BUNCHED_ITL_MS` (with one token per
event), the events were held back and delivered in bursts: a lone pair may meet in one read by
chance (an event-loop pass, a scheduler hiccup), but when most of them do, ITL, TPOT and the decode
figures measure the delivery (delayed ACKs against Nagle, a proxy's buffer), not the engine."""

PREFIX_CACHE_MAX_HIT_RATE = 0.01
"""Above this share of the prompt tokens the engine looked up in its prefix cache
(``engine_prefix_cache_hits / engine_prefix_cache_queries``), prefill was partly read from the cache."""

ENGINE_COUNT_TOLERANCE = 0.01
"""The engine's counters may exceed the client's counts by this share (at least one request / one
request's tokens) before a point is flagged: a previous point's last increment may land late."""

Metrics = Mapping[str, Any]
Check = Callable[[LoadSpec, Metrics], Flag | None]


def _num(metrics: Metrics, key: str) -> float:
    value = metrics.get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def coalesced_stream(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """Tokens per SSE event above :data:`COALESCED_TOKENS_PER_EVENT` (server or client batched them)."""
    per_event = _num(metrics, "tokens_per_event")
    if not per_event > COALESCED_TOKENS_PER_EVENT:
        return None
    return Flag(
        FlagKind.COALESCED_STREAM,
        f"{per_event:.2f} output tokens per stream event: TPOT and ITL cover fewer, larger steps",
    )


def bunched_stream(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """Most ITL gaps are ~0 although each event carried one token: the events were delivered in bursts.

    Reads the summary's ``itl_bunched_share`` and ``tokens_per_event``
    (:func:`workloads.metrics.summarize`); several tokens per event are :func:`coalesced_stream`'s.
    Seen for real: TGI 3.3.7 leaves Nagle on, and a client whose ACKs are delayed on a reused
    keep-alive connection received a whole stream in one burst ~40 ms late (TTFT +40 ms, ITL 0,
    decode throughput NaN), which the client now prevents (``TCP_QUICKACK``,
    :mod:`workloads.clients.session`). It fails a static batch, whose decode figures are event times
    (its decode total then spans a burst, not the decode steps), and qualifies a serving trial (TTFT
    and E2E are real client-side latencies, ITL and TPOT are not step times). An engine that sends
    the tokens of one step as separate back-to-back events (speculative decoding) is flagged too:
    its ITL is not a step time either.
    """
    share, per_event = _num(metrics, "itl_bunched_share"), _num(metrics, "tokens_per_event")
    if not share > BUNCHED_MAX_SHARE or per_event > COALESCED_TOKENS_PER_EVENT:
        return None
    static = spec.name == Strategy.STATIC_BATCH
    why = "the decode figures span bursts, not decode steps" if static else "ITL and TPOT are not step times"
    return Flag(
        FlagKind.BUNCHED_STREAM,
        f"{share:.0%} of inter-token gaps are under {BUNCHED_ITL_MS:g} ms (limit {BUNCHED_MAX_SHARE:.0%}) "
        f"with {per_event:.2f} tokens per event: the events arrived in bursts; {why}",
        fails=static,
    )


def short_outputs(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """A measured request produced fewer tokens than it asked for where exact lengths are asked for.

    Exact lengths: ``static_batch`` always (the seed decodes D tokens per sequence), other
    strategies when ``ignore_eos`` is set. It fails a static batch (its decode figures cover a
    shrinking batch over fewer steps, not the seed's) and qualifies a serving trial (TPOT and
    throughputs divide by the tokens produced, so they stay true, but the load is lighter than asked).
    Reads the summary's ``num_short_outputs`` and figures (:func:`workloads.metrics.output_lengths`).
    """
    static = spec.name == Strategy.STATIC_BATCH
    short = _num(metrics, "num_short_outputs")
    if not (static or spec.ignore_eos) or not short > 0:
        return None
    figures = (
        f"{short:.0f} of {_num(metrics, 'num_output_checked'):.0f} requests stopped early: "
        f"{_num(metrics, 'min_output_tokens'):.0f}..{_num(metrics, 'max_short_output_tokens'):.0f} "
        f"of {_num(metrics, 'requested_output_tokens'):.0f} tokens"
    )
    if static:
        why = "; the batch shrank over fewer decode steps, so its decode figures are not the seed's"
    else:
        why = "; per-token metrics divide by the tokens produced, but the load is lighter than asked"
    return Flag(FlagKind.SHORT_OUTPUTS, figures + why, fails=static)


def prefix_cache_hits(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """The engine served more than :data:`PREFIX_CACHE_MAX_HIT_RATE` of the prompt tokens from its cache.

    Reads the engine's counter deltas over the point (``engine_prefix_cache_hits`` and
    ``engine_prefix_cache_queries``, :mod:`engines.telemetry`; engines without them are not
    checked). The telemetry window holds the warmup requests too, so hits between warmups and
    measured requests count. Not raised for the datasets built to reuse the cache
    (``shared_prefix``, ``conversation``: :data:`orchestrator.core.load.CACHE_REUSE_DATASETS`) nor
    for ``workload=trace``, whose rows share what the trace says they share.
    Qualifies, never fails: the latencies are real, but prefill read less than the prompts.
    """
    if spec.dataset in CACHE_REUSE_DATASETS or spec.name == Strategy.TRACE:
        return None
    hits, queries = _num(metrics, "engine_prefix_cache_hits"), _num(metrics, "engine_prefix_cache_queries")
    if not queries > 0 or not hits / queries > PREFIX_CACHE_MAX_HIT_RATE:
        return None
    return Flag(
        FlagKind.PREFIX_CACHE_HITS,
        f"{hits / queries:.1%} of prompt tokens came from the engine's prefix cache "
        f"({hits:.0f} of {queries:.0f}; limit {PREFIX_CACHE_MAX_HIT_RATE:.0%}): "
        "prefill read less than the prompts",
    )


def foreign_requests(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """The engine finished more requests over the point than the client sent (warmups included):
    someone else's requests shared the engine, and the latencies include their load. Read from the
    engine's counters (``engine_requests_finished`` + ``engine_requests_failed``, every finish reason);
    engines without them are not checked."""
    finished, sent = _num(metrics, "engine_requests_finished"), _num(metrics, "client_requests_sent")
    if math.isnan(finished) or math.isnan(sent):
        return None
    finished += 0.0 if math.isnan(failed := _num(metrics, "engine_requests_failed")) else failed
    if finished - sent <= max(1.0, ENGINE_COUNT_TOLERANCE * sent):
        return None
    return Flag(FlagKind.FOREIGN_REQUESTS, f"the engine finished {finished:.0f} requests during the "
                f"point, the client sent {sent:.0f} (warmups included): another client's requests shared "
                "the engine")  # fmt: skip


def token_count_mismatch(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """Every request the client sent finished on the engine, yet the engine generated another number
    of output tokens than the client counted (server ``usage``, TGI's ``details.generated_tokens``, or
    its tokenizer): per-token figures (TPOT, tok/s) would divide by the wrong count."""
    finished, sent = _num(metrics, "engine_requests_finished"), _num(metrics, "client_requests_sent")
    engine, client = _num(metrics, "engine_generation_tokens"), _num(metrics, "client_output_tokens")
    if math.isnan(engine) or math.isnan(client) or finished != sent or _num(metrics, "num_errors") > 0:
        return None
    per_request = client / sent if sent else 0.0
    if abs(engine - client) <= max(per_request, ENGINE_COUNT_TOLERANCE * client):
        return None
    return Flag(FlagKind.TOKEN_COUNT_MISMATCH, f"the engine generated {engine:.0f} output tokens over the "
                f"point, the client counted {client:.0f} (warmups included)")  # fmt: skip


CHECKS: tuple[Check, ...] = (
    short_outputs, prefix_cache_hits, bunched_stream, coalesced_stream,
    foreign_requests, token_count_mismatch,
)  # fmt: skip


def check_point(spec: LoadSpec, metrics: Metrics, checks: Sequence[Check] = CHECKS) -> list[Flag]:
    """Every flag the point's metrics raise, in check order."""
    return [flag for check in checks if (flag := check(spec, metrics)) is not None]


STABILITY_METRICS = (
    "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "itl_p99_ms", "e2e_p50_ms", "request_throughput",
    "output_token_throughput", "total_throughput_tok_s", "total_latency_s", "decode_throughput_tok_s",
    "prefill_latency_ms_avg", "decode_token_latency_ms_avg", "decode_throughput_avg", "sla_max_rate",
)  # fmt: skip
"""The headline metrics whose spread over repeats :func:`unstable` checks (those a trial has)."""


def unstable(values: Mapping[str, Sequence[float]], max_cv: float, failed: int = 0) -> Flag | None:
    """The repeats of one trial disagree: a headline metric's coefficient of variation over them
    exceeds ``max_cv`` (``stats.max_cv``), or some repeats failed while others finished.

    ``values``: metric → its value in each finished repeat. Qualifies, never fails: the mean and
    its interval are still what the repeats measured, but the spread says the machine (or the
    engine) drifted, so a comparison needs more repeats or a quieter machine.
    """
    worst = []
    for key in STABILITY_METRICS:
        cv = coefficient_of_variation(values.get(key, ()))
        if cv > max_cv:
            worst.append((cv, key))
    parts = [f"{key} CV {cv:.1%}" for cv, key in sorted(worst, reverse=True)]
    n = max((len(v) for v in values.values()), default=0)
    if failed:
        parts.append(f"{failed} of {n + failed} repeats failed")
    if not parts:
        return None
    return Flag(FlagKind.UNSTABLE, f"repeats disagree beyond stats.max_cv={max_cv:g} over {n} repeats: "
                + ", ".join(parts))  # fmt: skip


def co_tenancy(others: Sequence[Mapping[str, Any]], window_s: float) -> Flag | None:
    """Other engine instances measured on the same node during this trial's window: its figures
    share the node's CPUs, memory bandwidth and PCIe with theirs. Qualifies, never fails
    (``ray.exclusive_nodes=true`` prevents it). ``others``: :meth:`orchestrator.execution.accounting.
    Windows.close`'s records."""
    if not others:
        return None
    names = ", ".join(
        f"{o['trial_id']} (GPUs {','.join(map(str, o.get('gpus') or [])) or '-'}; {o['overlap_s']:.1f} s"
        + (", still measuring" if o.get("ongoing") else "")
        + ")"
        for o in others
    )
    return Flag(FlagKind.CO_TENANCY, f"{len(others)} other instance(s) measured on the same node during "
                f"this trial's {window_s:.1f} s window: {names}")  # fmt: skip
