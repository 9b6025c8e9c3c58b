"""TGI-benchmark static batch (seed 001): B prompts of S tokens, each asked for D tokens.

Each run sends the B requests at the same instant and waits for all of them; ``warmups`` runs come
first and are left out of the statistics, then ``runs`` measured runs. Every request of every run
(warmups included) carries its own fresh prompt of exactly S tokens, distinct from the others from
its first token on, so no engine prefix cache can serve any of it (text-generation-benchmark sends
one prompt B times; its gRPC path has no prefix cache in between). Over HTTP the batch's steps are
seen through its token events (client clock, ms), and lengths are the tokens each request really
produced (``RequestRecord.output_tokens``: TGI's ``details.generated_tokens``, vLLM's usage), never
the requested D: TGI's HTTP API has no ``ignore_eos``, so a request may stop early, where
text-generation-benchmark (gRPC, ``ignore_eos``) always decodes D tokens. With n_i the tokens
request i produced:

* prefill latency = batch send → the last request's first token (the batch's first token is out
  for every sequence); prefill throughput = B / prefill latency (tokens/s).
* decode (total) = that moment → the last token of the batch; decode steps = max n_i − 1 (the
  longest request's steps: the batch decodes until its last sequence ends).
* decode (token) = decode (total) / (max n_i − 1), the per-step time; decode throughput =
  Σ (n_i − 1) / decode (total) (tokens/s). When every request produced D tokens these are
  text-generation-benchmark's D − 1 and B × (D − 1); when some stopped early the batch shrank over
  its steps, the figures are not the seed's, and the ``short_outputs`` check fails the trial.

Statistics over the measured runs, as text-generation-benchmark prints them: avg, min, max,
p50, p90, p99 (numpy linear interpolation by default; ``rule=tgi_benchmark`` indexes the runs in
order as text-generation-benchmark does, see :mod:`workloads.percentiles`). These are pure
functions of the records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.core.percentile_rules import PercentileRule
from workloads.clients.session import HTTPSession, open_session, run_sync
from workloads.constraints import StopSignal
from workloads.percentiles import percentiles
from workloads.records import RequestRecord
from workloads.sender import run_open_loop

BATCH_STATS: tuple[str, ...] = ("avg", "min", "max", "p50", "p90", "p99")
BATCH_METRICS: tuple[str, ...] = (
    "prefill_latency_ms",
    "decode_token_latency_ms",
    "decode_total_latency_ms",
    "prefill_throughput",
    "decode_throughput",
)
_NS_PER_MS = 1e6


@dataclass(frozen=True)
class BatchRun:
    """One run of a batch: latencies in ms, throughputs in tokens/s (NaN when undefined)."""

    batch_size: int
    prefill_latency_ms: float
    decode_total_latency_ms: float
    decode_token_latency_ms: float
    prefill_throughput: float
    decode_throughput: float


def produced_tokens(record: RequestRecord) -> int:
    """Tokens a request produced: the server's count, else its token events (TGI: one each)."""
    return record.output_tokens if record.output_tokens >= 0 else len(record.token_times_ns)


def batch_run(records: Sequence[RequestRecord], batch_start_ns: int) -> BatchRun | None:
    """Metrics of one run from its B records (module docstring: produced lengths, not requested).

    None when a request failed or produced no token.
    """
    if not records or any(not r.ok or not r.token_times_ns for r in records):
        return None
    batch = len(records)
    first_ns = max(r.token_times_ns[0] for r in records)
    last_ns = max(r.token_times_ns[-1] for r in records)
    prefill_ms = (first_ns - batch_start_ns) / _NS_PER_MS
    produced = [produced_tokens(r) for r in records]
    steps = max(produced) - 1
    decode_tokens = sum(max(n - 1, 0) for n in produced)
    total_ms = (last_ns - first_ns) / _NS_PER_MS if steps >= 1 else math.nan
    return BatchRun(
        batch_size=batch,
        prefill_latency_ms=prefill_ms,
        decode_total_latency_ms=total_ms,
        decode_token_latency_ms=total_ms / steps if steps >= 1 else math.nan,
        prefill_throughput=batch / (prefill_ms / 1e3) if prefill_ms > 0 else math.nan,
        decode_throughput=decode_tokens / (total_ms / 1e3) if steps >= 1 and total_ms > 0 else math.nan,
    )


def batch_stats(
    values: Sequence[float], prefix: str, rule: str | PercentileRule = PercentileRule.linear
) -> dict[str, float]:
    """``{prefix}_{avg,min,max,p50,p90,p99}`` over the finite values (NaN when there are none).

    ``values`` in run order: the ``tgi_benchmark`` percentile rule indexes them unsorted.
    """
    finite = [float(v) for v in values if math.isfinite(v)]
    arr = np.asarray(finite, dtype=np.float64)
    if arr.size == 0:
        return {f"{prefix}_{s}": math.nan for s in BATCH_STATS}
    p50, p90, p99 = percentiles(finite, [50, 90, 99], rule)
    out = (arr.mean(), arr.min(), arr.max(), p50, p90, p99)
    return {f"{prefix}_{s}": float(v) for s, v in zip(BATCH_STATS, out, strict=True)}


def summarize_static_batch(runs: Sequence[BatchRun | None], batch_size: int) -> dict[str, float | int | bool]:
    """Flat metrics for one batch size: every :data:`BATCH_METRICS` × :data:`BATCH_STATS`.

    ``failed_runs`` counts runs with an error; ``valid`` is False when any run failed.
    """
    good = [r for r in runs if r is not None]
    out: dict[str, float | int | bool] = {"batch_size": batch_size, "runs": len(runs)}
    for name in BATCH_METRICS:
        key = name.removesuffix("_ms")
        out.update(
            {
                f"{k}_ms" if name.endswith("_ms") else k: v
                for k, v in batch_stats([getattr(r, name) for r in good], key).items()
            }
        )
    out["failed_runs"] = len(runs) - len(good)
    out["valid"] = bool(runs) and len(good) == len(runs)
    return out


async def run_static_batch(
    url: str,
    payloads: dict[str, Any] | Sequence[dict[str, Any]],
    *,
    batch_size: int,
    runs: int,
    warmups: int,
    timeout_s: float,
    api: str = "completions",
    input_tokens: int | Sequence[int] = -1,
    count_tokens: Callable[[str], int] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
    stop: StopSignal | None = None,
) -> tuple[list[RequestRecord], list[BatchRun | None]]:
    """``warmups`` then ``runs`` runs of ``batch_size`` requests sent at once.

    ``payloads`` holds one body per request, (warmups + runs) × B in send order (run r's requests
    are ``payloads[r*B:(r+1)*B]``; :func:`workloads.strategies.run_strategy` gives each a fresh
    prompt), or one body sent by every request; ``input_tokens`` likewise per request or one for all.
    Once ``stop`` is set (the engine is gone) no further run starts.
    Returns every record (warmup runs marked warmup; ``step`` = run, ``request_id`` = run × B + i)
    and the measured runs' :class:`BatchRun` (None for a run with an error).
    """
    if batch_size < 1 or runs < 1 or warmups < 0:
        raise ValueError(
            f"need batch_size >= 1, runs >= 1, warmups >= 0; got {batch_size}, {runs}, {warmups}"
        )
    total = (warmups + runs) * batch_size
    bodies = [payloads] * total if isinstance(payloads, dict) else list(payloads)
    lengths = [input_tokens] * total if isinstance(input_tokens, int) else list(input_tokens)
    if len(bodies) != total or len(lengths) != total:
        raise ValueError(
            f"{len(bodies)} payloads and {len(lengths)} input lengths for "
            f"(warmups + runs) x batch_size = {total} requests"
        )
    records: list[RequestRecord] = []
    measured: list[BatchRun | None] = []

    async def one_run(session: HTTPSession, run: int, warm: bool) -> list[RequestRecord]:
        part = slice(run * batch_size, (run + 1) * batch_size)
        batch = await run_open_loop(
            url,
            bodies[part],
            [0.0] * batch_size,
            timeout_s=timeout_s,
            api=api,
            count_tokens=count_tokens,
            warmup=batch_size if warm else 0,
            clock=clock,
            input_tokens=lengths[part],
            session=session,
        )
        for i, rec in enumerate(batch):
            rec.request_id = run * batch_size + i
            rec.step = run
        return batch

    async with open_session(batch_size) as session:
        for run in range(warmups + runs):
            if stop is not None and stop.is_set():
                break
            warm = run < warmups
            batch = await one_run(session, run, warm)
            records.extend(batch)
            if not warm:
                measured.append(batch_run(batch, min(r.sent_ns for r in batch)))
    return records, measured


def run_static_batch_sync(*args: Any, **kwargs: Any) -> tuple[list[RequestRecord], list[BatchRun | None]]:
    """Blocking wrapper around :func:`run_static_batch` (uvloop when installed)."""
    return run_sync(run_static_batch(*args, **kwargs))
