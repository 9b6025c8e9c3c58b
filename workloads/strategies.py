"""Strategies (when to send): one entry point, :func:`run_strategy`, dispatching on ``spec.name``.

* ``concurrency``: exactly N in flight (closed loop, :mod:`workloads.driver`).
* ``constant`` / ``poisson`` / ``gamma``: open loop at ``rate`` req/s (:mod:`workloads.arrivals`).
* ``max_throughput``: every request at once.
* ``rate_sweep``: measure max throughput, then rates from ``sweep_min_rate`` up to it (linear or
  geometric), or the listed rates; each rate is one step.
* ``sla_search``: bisection for the highest rate whose p99s meet the SLOs; each probe is a step.
* ``static_batch``: TGI-benchmark static batches (:mod:`workloads.static_batch`).
* ``trace``: a request trace replayed at its timestamps (:mod:`workloads.replay`).

``dataset=conversation`` runs multi-turn sessions instead of independent requests, closed loop
(``concurrency`` sessions) or with session starts open loop (:mod:`workloads.replay`).

Constraints (:mod:`workloads.constraints`) apply to every strategy; metrics come from the records
afterwards. Each step's metrics carry ``step`` and ``offered_rate`` (``inf`` = all at once).

Warmup: the ``warmup_requests`` (the first prompts, request ids ``0 .. W-1``) are sent before
anything is measured and all of them complete (or fail) before the first measured request leaves:
``concurrency`` sends them closed loop at the point's concurrency, every other strategy all at
once; ``rate_sweep`` and ``sla_search`` warm once, before their first step. The measured schedule's
clock (arrival offsets, ``duration_s``) starts after the warmups; constraints count measured
requests only. ``static_batch`` has its own ``warmups`` runs, which already precede the measured
runs. Warmup records are kept (marked ``warmup``) and left out of every metric; note that they fall
inside the engine telemetry window (``engine_*`` counter deltas include them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from orchestrator.core.load import CONVERSATION_STRATEGIES, RATE_STRATEGIES, LoadSpec, Strategy
from workloads.datasets import distinct_prompts
from workloads.metrics import Summary
from workloads.point_run import (
    Outcome,
    Run,
    Target,
    make_prompts,
    payloads_for,
    step_metrics,
    stopped_message,
)
from workloads.records import RequestRecord
from workloads.replay import run_conversation, run_trace
from workloads.sla import sla_search, sweep_rates
from workloads.static_batch import run_static_batch_sync, summarize_static_batch


def _concurrency(run: Run) -> Outcome:
    warm = run.warm()
    records, reason = run.closed_loop()
    records = warm + records
    return Outcome(records, run.summary(records, scheduled=False), message=stopped_message(reason))


def _fixed_rate(run: Run) -> Outcome:
    spec = run.spec
    rate = math.inf if spec.name == Strategy.MAX_THROUGHPUT else float(spec.rate or 0.0)
    warm = run.warm()
    records, reason = run.open_loop(spec.name, rate)
    records = warm + records
    metrics = run.summary(records, scheduled=not math.isinf(rate))
    metrics["offered_rate"] = rate
    return Outcome(records, metrics, message=stopped_message(reason))


def _rate_sweep(run: Run) -> Outcome:
    spec = run.spec
    records: list[RequestRecord] = run.warm()
    steps: list[dict[str, float]] = []
    headline: Summary = {}
    if spec.sweep_kind == "list":
        rates = list(spec.sweep_rates)
    else:
        recs, headline = run.probe(math.inf, 0)
        records += recs
        steps.append(step_metrics(0, math.inf, headline))
        measured = float(headline["request_throughput"])
        if not measured > 0:
            return Outcome(records, headline, steps, "max-throughput probe measured no throughput")
        rates = sweep_rates(spec.sweep_kind, spec.sweep_min_rate, measured, spec.sweep_num_rates)
        headline = {**headline, "max_request_throughput": measured}
    for rate in rates:
        recs, summary = run.probe(rate, len(steps))
        records += recs
        steps.append(step_metrics(len(steps), rate, summary))
    if spec.sweep_kind == "list":
        headline = {k: v for k, v in steps[-1].items() if k != "step"}
    headline["num_steps"] = len(steps)
    return Outcome(records, headline, steps)


def _sla_search(run: Run) -> Outcome:
    spec = run.spec
    records: list[RequestRecord] = run.warm()
    steps: list[dict[str, float]] = []
    high = spec.sla_max_rate
    if high is None:
        recs, summary = run.probe(math.inf, 0)
        records += recs
        steps.append(step_metrics(0, math.inf, summary))
        high = max(float(summary["request_throughput"]), spec.sla_min_rate)

    def probe(rate: float) -> Summary:
        recs, summary = run.probe(rate, len(steps))
        records.extend(recs)
        steps.append(step_metrics(len(steps), rate, summary))
        return summary

    best, probes = sla_search(
        probe,
        dict(spec.slo),
        spec.sla_min_rate,
        high,
        iterations=spec.sla_iterations,
        rel_tol=spec.sla_rel_tol,
    )
    for step, p in zip(steps[len(steps) - len(probes) :], probes, strict=True):
        step["slo_passed"] = float(p.passed)
    chosen = next((p for p in probes if p.rate == best), None)
    metrics: Summary = dict(chosen.metrics) if chosen else {}
    metrics.update(
        sla_max_rate=math.nan if best is None else best,
        sla_found=best is not None,
        sla_num_probes=len(probes),
        valid=chosen is not None or any(bool(p.metrics.get("valid")) for p in probes),
    )
    return Outcome(records, metrics, steps, "" if best else "no probed rate met the SLOs")


def _static_batch(run: Run) -> Outcome:
    spec = run.spec
    records, runs = run_static_batch_sync(
        run.target.url,
        run.payloads,
        batch_size=spec.batch_size,
        runs=spec.runs,
        warmups=spec.warmups,
        timeout_s=spec.timeout_s,
        api=spec.api,
        input_tokens=[p.input_tokens for p in run.prompts],
        count_tokens=run.target.count_tokens,
        stop=run.target.stop,
    )
    metrics = {**run.summary(records, scheduled=False), **summarize_static_batch(runs, spec.batch_size)}
    failed = int(metrics["failed_runs"])
    return Outcome(records, metrics, message=f"{failed} of {spec.runs} runs had errors" if failed else "")


_STRATEGIES: dict[str, Callable[[Run], Outcome]] = {
    Strategy.CONCURRENCY: _concurrency,
    **dict.fromkeys((*RATE_STRATEGIES, Strategy.MAX_THROUGHPUT), _fixed_rate),
    Strategy.RATE_SWEEP: _rate_sweep,
    Strategy.SLA_SEARCH: _sla_search,
    Strategy.STATIC_BATCH: _static_batch,
}


def run_strategy(spec: LoadSpec, target: Target) -> Outcome:
    """Build the point's prompts and payloads, then run its strategy; blocks until done. The
    metrics also count what the engine's own counters should show for the point (warmups
    included): ``client_requests_sent`` and ``client_output_tokens`` (absent where a count is unknown)."""
    outcome = _run_strategy(spec, target)
    outcome.metrics.update(client_counts(outcome.records))
    return outcome


def client_counts(records: Sequence[RequestRecord]) -> dict[str, float]:
    """Requests the client sent over the point, warmups included, and the output tokens of those
    that finished (only when every finished one has a known count) (pure)."""
    out = {"client_requests_sent": float(len(records))}
    done = [r.output_tokens for r in records if r.ok]
    if all(n >= 0 for n in done):
        out["client_output_tokens"] = float(sum(done))
    return out


def _run_strategy(spec: LoadSpec, target: Target) -> Outcome:
    if spec.name not in (*_STRATEGIES, Strategy.TRACE):
        raise ValueError(
            f"workload.name={spec.name!r} is not one of {', '.join((*_STRATEGIES, Strategy.TRACE))}"
        )
    if spec.name == Strategy.TRACE:
        return run_trace(spec, target)
    if spec.dataset == "conversation":
        if spec.name not in CONVERSATION_STRATEGIES:
            raise ValueError(f"workload.name={spec.name!r} cannot run dataset=conversation")
        return run_conversation(spec, target)
    rng = np.random.default_rng(spec.seed)
    if spec.name == Strategy.STATIC_BATCH:  # a fresh prompt for every request of every run, warmups included
        n = (spec.warmups + spec.runs) * spec.batch_size
        prompts = (
            distinct_prompts(target.tokenizer, n, spec.input_len, rng)
            if spec.dataset == "random"
            else make_prompts(spec, target.tokenizer, n, rng)
        )
    else:
        prompts = make_prompts(spec, target.tokenizer, spec.num_requests + spec.warmup_requests, rng)
    return _STRATEGIES[spec.name](Run(spec, target, prompts, payloads_for(spec, target, prompts)))
