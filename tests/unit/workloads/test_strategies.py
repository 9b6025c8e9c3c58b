"""Strategies against a fake server: warmups complete before any measured request leaves, static
batches send a fresh exact-length prompt per request, and short outputs reach the summary."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import web

from orchestrator.core.load import LoadSpec
from orchestrator.core.validity import FlagKind
from tests.fake_http import completions_app, end_stream, serve_in_thread
from workloads.checks import check_point
from workloads.datasets import count_tokens
from workloads.point_run import Target
from workloads.strategies import run_strategy

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from engines.tiny_model import ensure_tiny_model

    return transformers.PreTrainedTokenizerFast.from_pretrained(str(ensure_tiny_model()))


def _app(prompts: list[str], stop_at: int | None) -> web.Application:
    """Streams ``min(max_tokens, stop_at)`` tokens 2 ms apart, then usage and [DONE]."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompts.append(body["prompt"])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        n = min(int(body["max_tokens"]), stop_at or 10**9)
        for i in range(n):
            await asyncio.sleep(0.002)
            chunk = {"id": "x", "object": "chunk", "choices": [{"index": 0, "text": f"w{i} "}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": n + 8}
        return await end_stream(resp, usage)

    return completions_app(handle)


@contextmanager
def fake_server(stop_at: int | None = None) -> Iterator[tuple[str, list[str]]]:
    """The fake on 127.0.0.1 in its own thread and loop (run_strategy blocks in its own loop)."""
    prompts: list[str] = []
    with serve_in_thread(_app(prompts, stop_at)) as base:
        yield f"{base}/v1/completions", prompts


COMMON: dict[str, Any] = dict(input_len=8, output_len=3, num_requests=6, warmup_requests=3, timeout_s=10.0)
SPECS = {
    "concurrency": LoadSpec(name="concurrency", concurrency=2, **COMMON),
    "constant": LoadSpec(name="constant", rate=200.0, **COMMON),
    "poisson": LoadSpec(name="poisson", rate=200.0, **COMMON),
    "gamma": LoadSpec(name="gamma", rate=200.0, burstiness=0.5, **COMMON),
    "max_throughput": LoadSpec(name="max_throughput", **COMMON),
    "rate_sweep": LoadSpec(name="rate_sweep", sweep_kind="list", sweep_rates=(100.0, 200.0), **COMMON),
    "rate_sweep_measured": LoadSpec(
        name="rate_sweep", sweep_kind="linear", sweep_min_rate=50.0, sweep_num_rates=2, **COMMON
    ),
    "sla_search": LoadSpec(
        name="sla_search",
        sla_min_rate=10.0,
        sla_max_rate=200.0,
        sla_iterations=2,
        sla_rel_tol=0.01,
        slo=(("e2e_ms", 10_000.0),),
        **COMMON,
    ),
}


@pytest.mark.parametrize("key", sorted(SPECS))
def test_warmups_complete_before_the_first_measured_send(key: str, tokenizer: Any) -> None:
    spec = SPECS[key]
    with fake_server() as (url, _):
        outcome = run_strategy(spec, Target(url, "m", tokenizer))
    warm = [r for r in outcome.records if r.warmup]
    measured = [r for r in outcome.records if not r.warmup]
    assert len(warm) == 3 and all(r.ok for r in outcome.records)
    assert [r.request_id for r in warm] == [0, 1, 2]
    steps = max(1, len(outcome.steps))
    assert len(measured) == 6 * steps and all(r.request_id >= 3 for r in measured)
    assert len({r.request_id for r in outcome.records}) == len(outcome.records)
    assert max(r.end_ns for r in warm) <= min(r.sent_ns for r in measured)
    assert outcome.metrics["num_short_outputs"] == 0 and outcome.metrics["requested_output_tokens"] == 3


def test_static_batch_sends_fresh_exact_prompts_and_its_warmup_runs_first(tokenizer: Any) -> None:
    spec = LoadSpec(name="static_batch", batch_size=3, runs=2, warmups=1, input_len=8, output_len=3, seed=5)
    with fake_server() as (url, prompts):
        outcome = run_strategy(spec, Target(url, "m", tokenizer))
    assert len(prompts) == 9 and len(set(prompts)) == 9  # every request of every run, warmups included
    assert all(count_tokens(tokenizer, p) == 8 for p in prompts)
    heads = {tokenizer(p, add_special_tokens=False)["input_ids"][0] for p in prompts}
    assert len(heads) == 9  # no two share even a first token
    warm = [r for r in outcome.records if r.warmup]
    measured = [r for r in outcome.records if not r.warmup]
    assert len(warm) == 3 and max(r.end_ns for r in warm) <= min(r.sent_ns for r in measured)
    with fake_server() as (url, again):
        run_strategy(spec, Target(url, "m", tokenizer))
    assert sorted(again) == sorted(prompts)  # deterministic per workload.seed


def test_short_outputs_reach_the_summary_and_fail_a_static_batch(tokenizer: Any) -> None:
    spec = LoadSpec(name="static_batch", batch_size=2, runs=2, warmups=1, input_len=8, output_len=5)
    with fake_server(stop_at=3) as (url, _):
        outcome = run_strategy(spec, Target(url, "m", tokenizer))
    m = outcome.metrics
    assert m["num_short_outputs"] == 4 and m["num_output_checked"] == 4
    assert m["min_output_tokens"] == 3 and m["requested_output_tokens"] == 5
    assert m["decode_token_latency_avg_ms"] == pytest.approx(m["decode_total_latency_avg_ms"] / 2)
    (flag,) = [f for f in check_point(spec, m) if f.kind is FlagKind.SHORT_OUTPUTS]
    assert flag.fails and flag.reason.startswith("4 of 4 requests stopped early: 3..3 of 5 tokens")

    serving = LoadSpec(name="max_throughput", input_len=8, output_len=5, num_requests=4)
    with fake_server(stop_at=3) as (url, _):
        m = run_strategy(serving, Target(url, "m", tokenizer)).metrics
    assert m["num_short_outputs"] == 4 and m["tpot_mean_ms"] > 0
    (flag,) = [f for f in check_point(serving, m) if f.kind is FlagKind.SHORT_OUTPUTS]
    assert not flag.fails


SLA_PROBED = LoadSpec(
    name="sla_search", sla_min_rate=10.0, sla_iterations=2, slo=(("e2e_ms", 1e4),), **COMMON
)


@pytest.mark.parametrize("key", ["rate_sweep", "rate_sweep_measured", "sla_probed"])
def test_every_step_sends_fresh_prompts(key: str, tokenizer: Any) -> None:
    """A later step never re-sends an earlier step's prompts (its prefill would hit the prefix
    cache the earlier one filled); lengths and the short-output check hold on every step."""
    with fake_server() as (url, prompts):
        outcome = run_strategy({**SPECS, "sla_probed": SLA_PROBED}[key], Target(url, "m", tokenizer))
    steps = len(outcome.steps)
    assert steps >= 2 and len(prompts) == 3 + 6 * steps
    assert len(set(prompts[3:])) == 6 * steps  # the warmups are the first step's drawn set
    assert all(count_tokens(tokenizer, p) == 8 for p in prompts)
    assert all(s["num_short_outputs"] == 0 for s in outcome.steps)
    with fake_server() as (url, again):
        run_strategy({**SPECS, "sla_probed": SLA_PROBED}[key], Target(url, "m", tokenizer))
    assert sorted(again) == sorted(prompts)  # deterministic per workload.seed


def test_client_counts_take_every_record_and_known_token_counts() -> None:
    from workloads.records import RequestRecord
    from workloads.strategies import client_counts

    def rec(ok: bool, tokens: int, warmup: bool = False) -> RequestRecord:
        return RequestRecord(0, 0, 0, 0, [], 8, tokens, ok, warmup=warmup)

    assert client_counts([rec(True, 4, warmup=True), rec(True, 4), rec(False, 0)]) == {
        "client_requests_sent": 3.0, "client_output_tokens": 8.0,
    }  # fmt: skip
    assert client_counts([rec(True, -1), rec(True, 4)]) == {"client_requests_sent": 2.0}  # one unknown
