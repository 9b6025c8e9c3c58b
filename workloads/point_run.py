"""One workload point's run against a target: its prompts, payloads, constraints, warmup, and
the open- and closed-loop sends every strategy (:mod:`workloads.strategies`) is made of."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.core.load import LoadSpec, Strategy
from workloads.arrivals import arrival_offsets
from workloads.breakdowns import breakdowns
from workloads.constraints import Constraints, StopSignal, StopTracker
from workloads.datasets import Prompt, random_prompts, shared_prefix_prompts
from workloads.driver import build_payloads, run_concurrency_sync
from workloads.metrics import Summary, output_lengths, summarize
from workloads.records import RequestRecord
from workloads.sender import run_open_loop_sync
from workloads.sharegpt import read_conversations, sharegpt_prompts

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
class Run:
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
        return point_summary(self.spec, records, self.requested, scheduled=scheduled)

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


def point_summary(
    spec: LoadSpec,
    records: Sequence[RequestRecord],
    requested: Callable[[RequestRecord], int],
    *,
    scheduled: bool,
    planned_turns: Mapping[int, int] | None = None,
) -> Summary:
    """The point's metrics: the pooled summary, output lengths against ``requested`` (a record's
    ``max_tokens``) and the breakdowns that apply (:mod:`workloads.breakdowns`)."""
    out = summarize(
        records,
        slo=dict(spec.slo),
        max_error_rate=spec.max_error_rate,
        max_send_delay_p99_ms=spec.max_send_delay_ms if scheduled else math.inf,
    )
    return {**out, **output_lengths(records, requested), **breakdowns(records, planned_turns)}


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


def stopped_message(reason: str) -> str:
    return f"stopped early: {reason}" if reason and reason != "max_requests" else ""
