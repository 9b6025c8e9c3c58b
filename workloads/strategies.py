"""Strategies (when to send): one entry point, :func:`run_strategy`, dispatching on ``spec.name``.

* ``concurrency``: exactly N in flight (closed loop, :mod:`workloads.driver`).
* ``constant`` / ``poisson`` / ``gamma``: open loop at ``rate`` req/s (:mod:`workloads.arrivals`).
* ``max_throughput``: every request at once.
* ``rate_sweep``: measure max throughput, then rates from ``sweep_min_rate`` up to it (linear or
  geometric), or the listed rates; each rate is one step.
* ``sla_search``: bisection for the highest rate whose p99s meet the SLOs; each probe is a step.
* ``static_batch``: TGI-benchmark static batches (:mod:`workloads.static_batch`).

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.core.load import RATE_STRATEGIES, LoadSpec, Strategy
from workloads.arrivals import arrival_offsets
from workloads.constraints import Constraints, StopSignal, StopTracker
from workloads.datasets import Prompt, distinct_prompts, random_prompts, shared_prefix_prompts
from workloads.driver import build_payloads, run_concurrency_sync
from workloads.metrics import Summary, output_lengths, summarize
from workloads.records import RequestRecord
from workloads.sender import run_open_loop_sync
from workloads.sharegpt import read_conversations, sharegpt_prompts
from workloads.sla import sla_search, sweep_rates
from workloads.static_batch import run_static_batch_sync, summarize_static_batch

ARRIVAL_SEED_SALT = 1
STEP_SEED_SALT = 2  # rate-sweep / SLA steps after the first draw their prompts from [seed, 2, step]
"""Arrivals draw from ``default_rng([seed, 1])``, prompts from ``default_rng(seed)``: independent."""


@dataclass
class Outcome:
    """What a strategy produced: all records, the trial's flat metrics, per-step metrics."""

    records: list[RequestRecord]
    metrics: Summary
    steps: list[dict[str, float]] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class Target:
    """Where to send: the engine's endpoint URL, its served model name and tokenizer; ``stop`` is
    set from outside when the engine is gone (nothing more is sent)."""

    url: str
    served_name: str
    tokenizer: Any
    stop: StopSignal | None = None

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def make_prompts(spec: LoadSpec, tokenizer: Any, n: int, rng: np.random.Generator) -> list[Prompt]:
    """``n`` prompts from ``spec.dataset``: random, sharegpt (file replay) or shared_prefix."""
    if spec.dataset == "sharegpt":
        pairs = read_conversations(spec.dataset_path or "")
        return sharegpt_prompts(tokenizer, pairs, n, spec.input_len, spec.output_len, rng)
    if spec.dataset == "shared_prefix":
        return shared_prefix_prompts(tokenizer, n, spec.input_len, spec.prefix_len, spec.num_prefixes, rng)
    return random_prompts(tokenizer, n, spec.input_len, rng)


def constraints(spec: LoadSpec, stop: StopSignal | None = None) -> Constraints:
    return Constraints(
        duration_s=spec.duration_s,
        max_errors=spec.max_errors,
        abort_error_rate=spec.abort_error_rate,
        stop=stop,
    )


def step_metrics(step: int, offered_rate: float, summary: Summary) -> dict[str, float]:
    """A step's metrics as floats, with its index and offered rate."""
    return {"step": float(step), "offered_rate": offered_rate, **{k: float(v) for k, v in summary.items()}}


@dataclass
class _Run:
    """The prompts and payloads of one point, and how to send them.

    ``prompts``/``payloads`` hold the warmups (the first ``num_warmup``) and the first step's
    measured requests. Every later step of a rate sweep or SLA search sends fresh prompts drawn
    the same way (:meth:`step_prompts`), so no step's prefill is served from a cache an earlier step
    filled: every step measures what its first would have.
    """

    spec: LoadSpec
    target: Target
    prompts: list[Prompt]
    payloads: list[dict[str, Any]]
    _steps: dict[int, tuple[list[Prompt], list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def num_warmup(self) -> int:
        return (
            0
            if self.spec.name == Strategy.STATIC_BATCH
            else min(self.spec.warmup_requests, len(self.payloads))
        )

    def step_prompts(self, step: int) -> tuple[list[Prompt], list[dict[str, Any]]]:
        """The measured prompts and payloads of ``step`` (step 0: those after the warmups)."""
        w = self.num_warmup
        if step == 0:
            return self.prompts[w:], self.payloads[w:]
        if step not in self._steps:
            rng = np.random.default_rng([self.spec.seed, STEP_SEED_SALT, step])
            prompts = make_prompts(self.spec, self.target.tokenizer, len(self.payloads) - w, rng)
            self._steps[step] = prompts, payloads_for(self.spec, self.target, prompts)
        return self._steps[step]

    def requested(self, record: RequestRecord) -> int:
        """The ``max_tokens`` a record asked for (its payload, found from its step and request id)."""
        w = self.num_warmup
        if record.warmup or record.step == 0 or record.step not in self._steps:
            payload = self.payloads[record.request_id % len(self.payloads)]
        else:
            step_payloads = self._steps[record.step][1]
            payload = step_payloads[(record.request_id - w) % len(step_payloads)]
        return int(payload.get("max_tokens") or 0)

    def summary(self, records: Sequence[RequestRecord], *, scheduled: bool = True) -> Summary:
        """``scheduled``: requests had planned send times, so a late client makes the run invalid;
        a closed loop or everything-at-once has no plan (send delay is then only reported)."""
        out = summarize(
            records,
            slo=dict(self.spec.slo),
            max_error_rate=self.spec.max_error_rate,
            max_send_delay_p99_ms=self.spec.max_send_delay_ms if scheduled else math.inf,
        )
        return {**out, **output_lengths(records, self.requested)}

    def warm(self) -> list[RequestRecord]:
        """Send the warmup requests and wait until every one has completed (module docstring)."""
        w = self.num_warmup
        if w == 0:
            return []
        common: dict[str, Any] = dict(
            timeout_s=self.spec.timeout_s,
            api=self.spec.api,
            count_tokens=self.target.count_tokens,
            warmup=w,
            input_tokens=[p.input_tokens for p in self.prompts[:w]],
        )
        if self.spec.name == Strategy.CONCURRENCY:
            return run_concurrency_sync(
                self.target.url, self.payloads[:w], concurrency=self.spec.concurrency, **common
            )
        return run_open_loop_sync(self.target.url, self.payloads[:w], [0.0] * w, **common)

    def open_loop(
        self, kind: str, rate: float, id_offset: int = 0, step: int = 0
    ) -> tuple[list[RequestRecord], str]:
        """``step``'s measured payloads on their schedule; ids from W + ``id_offset``."""
        w = self.num_warmup
        prompts, payloads = self.step_prompts(step)
        rng = np.random.default_rng([self.spec.seed, ARRIVAL_SEED_SALT])
        offsets = arrival_offsets(kind, len(payloads), rate, rng, self.spec.burstiness)
        tracker = StopTracker(constraints(self.spec, self.target.stop))
        records = run_open_loop_sync(
            self.target.url,
            payloads,
            [float(o) for o in offsets],
            timeout_s=self.spec.timeout_s,
            api=self.spec.api,
            count_tokens=self.target.count_tokens,
            input_tokens=[p.input_tokens for p in prompts],
            tracker=tracker,
        )
        for rec in records:
            rec.request_id += w + id_offset
        return records, tracker.reason

    def closed_loop(self) -> tuple[list[RequestRecord], str]:
        """The measured payloads (after the warmups) at the point's concurrency; ids from W."""
        w = self.num_warmup
        tracker = StopTracker(constraints(self.spec, self.target.stop))
        records = run_concurrency_sync(
            self.target.url,
            self.payloads[w:],
            concurrency=self.spec.concurrency,
            timeout_s=self.spec.timeout_s,
            api=self.spec.api,
            count_tokens=self.target.count_tokens,
            input_tokens=[p.input_tokens for p in self.prompts[w:]],
            tracker=tracker,
        )
        for rec in records:
            rec.request_id += w
        return records, tracker.reason

    def probe(self, rate: float, step: int) -> tuple[list[RequestRecord], Summary]:
        """One open-loop step at ``rate`` (inf = all at once); request ids offset by the step."""
        all_at_once = math.isinf(rate)
        kind = "max_throughput" if all_at_once else "gamma"
        records, _ = self.open_loop(kind, rate, id_offset=step * len(self.payloads), step=step)
        for rec in records:
            rec.step = step
        return records, self.summary(records, scheduled=not all_at_once)


def _concurrency(run: _Run) -> Outcome:
    warm = run.warm()
    records, reason = run.closed_loop()
    records = warm + records
    return Outcome(records, run.summary(records, scheduled=False), message=_stopped(reason))


def _fixed_rate(run: _Run) -> Outcome:
    spec = run.spec
    rate = math.inf if spec.name == Strategy.MAX_THROUGHPUT else float(spec.rate or 0.0)
    warm = run.warm()
    records, reason = run.open_loop(spec.name, rate)
    records = warm + records
    metrics = run.summary(records, scheduled=not math.isinf(rate))
    metrics["offered_rate"] = rate
    return Outcome(records, metrics, message=_stopped(reason))


def _rate_sweep(run: _Run) -> Outcome:
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


def _sla_search(run: _Run) -> Outcome:
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


def _static_batch(run: _Run) -> Outcome:
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


_STRATEGIES: dict[str, Callable[[_Run], Outcome]] = {
    Strategy.CONCURRENCY: _concurrency,
    **dict.fromkeys((*RATE_STRATEGIES, Strategy.MAX_THROUGHPUT), _fixed_rate),
    Strategy.RATE_SWEEP: _rate_sweep,
    Strategy.SLA_SEARCH: _sla_search,
    Strategy.STATIC_BATCH: _static_batch,
}


def run_strategy(spec: LoadSpec, target: Target) -> Outcome:
    """Build the point's prompts and payloads, then run its strategy; blocks until done."""
    if spec.name not in _STRATEGIES:
        raise ValueError(f"workload.name={spec.name!r} is not one of {', '.join(_STRATEGIES)}")
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
    return _STRATEGIES[spec.name](_Run(spec, target, prompts, payloads_for(spec, target, prompts)))


def payloads_for(spec: LoadSpec, target: Target, prompts: list[Prompt]) -> list[dict[str, Any]]:
    """The request bodies of ``prompts`` for the point's API and sampling settings."""
    return build_payloads(
        target.served_name,
        prompts,
        spec.output_len,
        api=spec.api,
        ignore_eos=spec.ignore_eos,
        temperature=spec.temperature,
    )


def _stopped(reason: str) -> str:
    return f"stopped early: {reason}" if reason and reason != "max_requests" else ""
