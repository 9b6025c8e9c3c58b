"""Metrics beyond the pooled summary, each only where the records carry it (pure functions).

* Reasoning (any successful measured record with a reasoning event or a reported reasoning count):
  ``reasoning_ttft_*_ms`` = sent → first reasoning token, ``answer_ttft_*_ms`` = sent → first answer
  (content) token (``ttft_*`` stays the first token of any kind); ``total_reasoning_tokens``,
  ``total_answer_tokens`` (output − reasoning) and ``reasoning_token_share`` over the records
  whose server reported the reasoning count (``num_reasoning_reported``).
* Cached prompt tokens (any record whose server reported ``cached_tokens``):
  ``total_cached_tokens``, ``cached_token_rate`` = Σ cached / Σ prompt tokens of those records,
  ``num_cached_reported``.
* Conversations (records with a turn): ``num_sessions``, ``num_sessions_complete`` (every planned
  turn ok: needs ``planned_turns``), ``max_turn``, and per turn index k (1-based)
  ``turn<k>_num_requests``, ``turn<k>_num_ok``, ``turn<k>_input_tokens_mean``,
  ``turn<k>_{ttft,tpot,e2e}_{mean,p50,p99}_ms`` and, where reported, ``turn<k>_cached_token_rate``
  (and the reasoning ones). Pooled figures are :func:`workloads.metrics.summarize`'s.

Warmup records are left out; latencies use successful records, as everywhere.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from workloads.metrics import Summary, describe, latency_values_ms
from workloads.records import RequestRecord

_NS_PER_MS = 1e6
TURN_LATENCIES: tuple[str, ...] = ("ttft", "tpot", "e2e")
TURN_STATS: tuple[str, ...] = ("mean", "p50", "p99")


def reasoning_metrics(ok: Sequence[RequestRecord]) -> Summary:
    """Reasoning and answer first-token times and token counts (module doc); {} without reasoning."""
    if not any(r.first_reasoning_ns >= 0 or r.reasoning_tokens >= 0 for r in ok):
        return {}
    out: Summary = {}
    out.update(
        describe([t / _NS_PER_MS for r in ok if (t := r.reasoning_ttft_ns) is not None], "reasoning_ttft")
    )
    out.update(describe([t / _NS_PER_MS for r in ok if (t := r.answer_ttft_ns) is not None], "answer_ttft"))
    reported = [r for r in ok if r.reasoning_tokens >= 0 and r.output_tokens >= 0]
    reasoning = sum(r.reasoning_tokens for r in reported)
    total = sum(r.output_tokens for r in reported)
    out.update(
        num_reasoning_reported=len(reported),
        total_reasoning_tokens=reasoning,
        total_answer_tokens=total - reasoning,
        reasoning_token_share=reasoning / total if total else math.nan,
    )
    return out


def cached_metrics(ok: Sequence[RequestRecord]) -> Summary:
    """Cached prompt tokens as the server reported them (module doc); {} when none was reported."""
    reported = [r for r in ok if r.cached_tokens >= 0 and r.input_tokens > 0]
    if not reported:
        return {}
    cached = sum(r.cached_tokens for r in reported)
    prompt = sum(r.input_tokens for r in reported)
    return {
        "num_cached_reported": len(reported),
        "total_cached_tokens": cached,
        "cached_token_rate": cached / prompt if prompt else math.nan,
    }


def turn_metrics(records: Sequence[RequestRecord], planned_turns: Mapping[int, int] | None = None) -> Summary:
    """Per-turn and per-session figures of a conversation run (module doc); {} without turns."""
    measured = [r for r in records if not r.warmup and r.turn > 0]
    if not measured:
        return {}
    by_turn: defaultdict[int, list[RequestRecord]] = defaultdict(list)
    by_session: defaultdict[int, list[RequestRecord]] = defaultdict(list)
    for r in measured:
        by_turn[r.turn].append(r)
        by_session[r.session].append(r)
    out: Summary = {"num_sessions": len(by_session), "max_turn": max(by_turn)}
    if planned_turns is not None:
        out["num_sessions_complete"] = sum(
            len(recs) == planned_turns.get(s, -1) and all(r.ok for r in recs)
            for s, recs in by_session.items()
        )
    for k in sorted(by_turn):
        recs = by_turn[k]
        ok = [r for r in recs if r.ok]
        prefix = f"turn{k}"
        known = [r.input_tokens for r in ok if r.input_tokens >= 0]
        out[f"{prefix}_num_requests"] = len(recs)
        out[f"{prefix}_num_ok"] = len(ok)
        out[f"{prefix}_input_tokens_mean"] = sum(known) / len(known) if known else math.nan
        samples = latency_values_ms(ok)
        for name in TURN_LATENCIES:
            stats = describe(samples[name], f"{prefix}_{name}")
            out.update({f"{prefix}_{name}_{s}_ms": stats[f"{prefix}_{name}_{s}_ms"] for s in TURN_STATS})
        cached = cached_metrics(ok)
        if cached:
            out[f"{prefix}_cached_token_rate"] = cached["cached_token_rate"]
        reasoning = reasoning_metrics(ok)
        for key in ("reasoning_ttft_p50_ms", "answer_ttft_p50_ms"):
            if key in reasoning:
                out[f"{prefix}_{key}"] = reasoning[key]
    return out


def breakdowns(records: Sequence[RequestRecord], planned_turns: Mapping[int, int] | None = None) -> Summary:
    """Every breakdown that applies to these records (warmups left out)."""
    ok = [r for r in records if not r.warmup and r.ok]
    return {**reasoning_metrics(ok), **cached_metrics(ok), **turn_metrics(records, planned_turns)}
