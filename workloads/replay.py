"""The points that replay more than independent prompts: conversations and traces.

* ``dataset.kind=conversation`` (:func:`run_conversation`): ``num_requests`` sessions
  (:mod:`workloads.conversations`) sent by :mod:`workloads.sessions`, closed loop for
  ``concurrency`` (that many sessions in flight), open loop for ``constant``/``poisson``/``gamma``
  (sessions start at the arrival process's offsets, ``rate`` sessions/s) and ``max_throughput``
  (every session starts at once).
* ``workload=trace`` (:func:`run_trace`): the trace's first ``num_requests`` rows
  (:mod:`workloads.trace`, prompts by :mod:`workloads.trace_prompts`; the point's ``input_len`` /
  ``output_len`` are the length caps, 0 for none), each sent at its timestamp
  (the gaps times ``time_scale``), open loop: a late client makes the point invalid, as for any
  schedule (``client_behind``).

Warmups (``warmup_requests``) are single requests of fresh random prompts (a trace's: with the
lengths of its first rows), sent as every strategy sends them (:meth:`workloads.point_run.Run.warm`)
before the measured clock starts; they share no session or trace prefix.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from orchestrator.core.load import LoadSpec, Strategy
from workloads.arrivals import arrival_offsets
from workloads.clients.openai import endpoint_url
from workloads.constraints import StopTracker
from workloads.conversations import SessionPlan, sharegpt_sessions, synthetic_sessions, turn_bodies
from workloads.datasets import Prompt, random_prompts
from workloads.point_run import (
    ARRIVAL_SEED_SALT,
    Outcome,
    Run,
    Target,
    constraints,
    payloads_for,
    point_summary,
    stopped_message,
)
from workloads.records import RequestRecord
from workloads.sender import run_open_loop_sync
from workloads.sessions import run_sessions_sync
from workloads.sharegpt import read_sessions
from workloads.trace import read_trace, replay_offsets
from workloads.trace_prompts import trace_prompts

WARMUP_SEED_SALT = 3
"""Warmup prompts of conversations and traces come from ``default_rng([seed, 3])``."""


def session_plans(spec: LoadSpec, tokenizer: Any, n: int, rng: np.random.Generator) -> list[SessionPlan]:
    """``n`` sessions: the ShareGPT file's conversations when ``dataset_path`` is set, else synthetic."""
    if spec.dataset_path:
        conversations = read_sessions(spec.dataset_path)
        return sharegpt_sessions(
            tokenizer, conversations, n, spec.turns, spec.input_len, spec.output_len, rng
        )
    return synthetic_sessions(tokenizer, n, spec.turns, spec.input_len, spec.output_len, rng)


def _warm_run(
    spec: LoadSpec, target: Target, lengths: list[tuple[int, int | None]], extra: list[Prompt]
) -> Run:
    """A :class:`Run` whose first prompts are the warmups (fresh text of the (input, output)
    ``lengths``; output None: the point's), then ``extra``."""
    rng = np.random.default_rng([spec.seed, WARMUP_SEED_SALT])
    warm = [
        dataclasses.replace(p, output_len=n_out)
        for n_in, n_out in lengths
        for p in random_prompts(target.tokenizer, 1, n_in, rng)
    ]
    prompts = warm + extra
    # a trace point's output_len is a cap, 0 for none: every prompt has its own output length
    sized = dataclasses.replace(spec, output_len=max(spec.output_len, 1))
    return Run(spec, target, prompts, payloads_for(sized, target, prompts))


def run_conversation(spec: LoadSpec, target: Target) -> Outcome:
    """Every session of the point (module doc); blocks until done."""
    plans = session_plans(spec, target.tokenizer, spec.num_requests, np.random.default_rng(spec.seed))
    run = _warm_run(spec, target, [(spec.input_len, None)] * spec.warmup_requests, [])
    warm = run.warm()
    tracker = StopTracker(constraints(spec, target.stop))
    closed = spec.name == Strategy.CONCURRENCY
    rate = math.inf if spec.name == Strategy.MAX_THROUGHPUT else float(spec.rate or 0.0)
    starts = None
    if not closed:
        rng = np.random.default_rng([spec.seed, ARRIVAL_SEED_SALT])
        starts = [float(o) for o in arrival_offsets(spec.name, len(plans), rate, rng, spec.burstiness)]
    records = run_sessions_sync(
        endpoint_url(target.url, spec.api),
        plans,
        turn_bodies(target.served_name, spec.api, ignore_eos=spec.ignore_eos, temperature=spec.temperature),
        timeout_s=spec.timeout_s,
        think_time_s=spec.think_time_s,
        starts_s=starts,
        concurrency=spec.concurrency if closed else None,
        api=spec.api,
        count_tokens=target.count_tokens,
        tracker=tracker,
        id_offset=len(warm),
    )
    asked = {(p.index, k + 1): n for p in plans for k, n in enumerate(p.output_lens)}

    def requested(rec: RequestRecord) -> int:
        return asked.get((rec.session, rec.turn), 0) if rec.turn else run.requested(rec)

    all_records = warm + records
    scheduled = not closed and not math.isinf(rate)
    metrics = point_summary(
        spec, all_records, requested, scheduled=scheduled, planned_turns={p.index: p.turns for p in plans}
    )
    if not closed:
        metrics["offered_rate"] = rate
    return Outcome(all_records, metrics, message=stopped_message(tracker.reason))


def run_trace(spec: LoadSpec, target: Target) -> Outcome:
    """The trace's first ``num_requests`` rows at their timestamps (module doc); blocks until done."""
    rows = read_trace(spec.trace_path or "", spec.trace_format or "auto")[: spec.num_requests]
    prompts, changed = trace_prompts(
        target.tokenizer,
        rows,
        spec.input_len or None,
        spec.output_len or None,
        spec.trace_block_size or 512,
        spec.seed,
    )
    firsts = [prompts[i % len(prompts)] for i in range(spec.warmup_requests)]
    warm_lengths = [(p.input_tokens, p.output_len) for p in firsts]
    run = _warm_run(spec, target, warm_lengths, prompts)
    warm = run.warm()
    w = len(warm)
    offsets = replay_offsets(rows, spec.time_scale)
    tracker = StopTracker(constraints(spec, target.stop))
    records = run_open_loop_sync(
        target.url,
        run.payloads[w:],
        offsets,
        timeout_s=spec.timeout_s,
        api=spec.api,
        count_tokens=target.count_tokens,
        input_tokens=[p.input_tokens for p in prompts],
        tracker=tracker,
    )
    for rec in records:
        rec.request_id += w
    all_records = warm + records
    metrics = point_summary(spec, all_records, run.requested, scheduled=True)
    span = offsets[-1] if offsets else 0.0
    metrics.update(
        trace_rows=len(rows),
        trace_changed_rows=changed,
        trace_span_s=span,
        offered_rate=(len(rows) - 1) / span if span > 0 else math.inf,
    )
    return Outcome(all_records, metrics, message=stopped_message(tracker.reason))
