"""Open-loop sender, constraints, static batch and every strategy against an in-process fake
OpenAI streaming server on 127.0.0.1 (not vLLM)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest

from orchestrator.core.load import LoadSpec
from tests.fake_http import serve
from tests.unit.workloads.clients.test_openai import IN_FLIGHT, fake_openai_app
from workloads.arrivals import arrival_offsets
from workloads.constraints import Constraints, StopTracker
from workloads.driver import run_concurrency
from workloads.metrics import summarize
from workloads.point_run import Outcome, Target
from workloads.records import RequestRecord
from workloads.sender import run_open_loop
from workloads.static_batch import run_static_batch
from workloads.strategies import run_strategy

pytestmark = pytest.mark.integration


def _open_loop(mode: str, n: int, offsets: list[float], delay_s: float = 0.01, **kw: Any) -> Any:
    app = fake_openai_app(delay_s=delay_s)

    async def main() -> list[RequestRecord]:
        async with serve(app) as base:
            return await run_open_loop(
                f"{base}/{mode}", [{"max_tokens": 4}] * n, offsets, timeout_s=5.0, **kw
            )

    return asyncio.run(main()), app[IN_FLIGHT]


def test_sends_on_schedule_and_is_not_held_back_by_responses() -> None:
    """Poisson at 100 req/s while each response takes ~200 ms: many in flight, sends on time."""
    offsets = arrival_offsets("poisson", 40, 100.0, np.random.default_rng(7)).tolist()
    records, counts = _open_loop("ok", 40, offsets, delay_s=0.05, warmup=2)
    assert len(records) == 40 and all(r.ok for r in records)
    start = records[0].scheduled_ns
    assert [r.scheduled_ns - start for r in records] == [
        round(o * 1e9) - round(offsets[0] * 1e9) for o in offsets
    ]
    assert counts["max"] >= 5  # open loop: ~20 requests overlap at this rate and latency
    delays_ms = [r.send_delay_ns / 1e6 for r in records]
    assert min(delays_ms) >= 0
    assert float(np.median(delays_ms)) < 5.0  # generous: tracks the schedule, not the responses
    summary = summarize(records)
    assert summary["num_requests"] == 38 and summary["valid"] in (True, False)
    assert [r.warmup for r in records[:3]] == [True, True, False]


def test_duration_stops_sending() -> None:
    tracker = StopTracker(Constraints(duration_s=0.27))
    offsets = [i * 0.05 for i in range(100)]
    records, _ = _open_loop("ok", 100, offsets, tracker=tracker)
    assert len(records) == 6 and tracker.reason == "duration"


def test_max_errors_stops_open_loop_and_closed_loop() -> None:
    tracker = StopTracker(Constraints(max_errors=3))
    records, _ = _open_loop("http500", 50, [i * 0.02 for i in range(50)], tracker=tracker)
    assert 3 <= len(records) < 50 and tracker.reason == "max_errors"
    assert all(r.error_kind == "http" for r in records)

    async def closed() -> tuple[list[RequestRecord], StopTracker]:
        t = StopTracker(Constraints(max_errors=2))
        async with serve(fake_openai_app()) as base:
            recs = await run_concurrency(
                f"{base}/http500", [{}] * 30, concurrency=1, timeout_s=5.0, tracker=t
            )
        return recs, t

    recs, t = asyncio.run(closed())
    assert len(recs) == 2 and t.reason == "max_errors"


def test_static_batch_runs_against_fake_server() -> None:
    async def main() -> tuple[list[RequestRecord], list[Any]]:
        async with serve(fake_openai_app(delay_s=0.005)) as base:
            return await run_static_batch(
                f"{base}/ok", {"max_tokens": 6}, batch_size=3, runs=2, warmups=1, timeout_s=5.0
            )

    records, runs = asyncio.run(main())
    assert len(records) == 9 and [r.warmup for r in records] == [True] * 3 + [False] * 6
    assert sorted(r.request_id for r in records) == list(range(9))
    assert [r.step for r in records] == [0] * 3 + [1] * 3 + [2] * 3
    assert len(runs) == 2 and all(r is not None and r.batch_size == 3 for r in runs)
    for run in runs:
        assert run.prefill_latency_ms > 0 and run.decode_token_latency_ms > 0
        assert run.decode_throughput == pytest.approx(3 * 5 / (run.decode_total_latency_ms / 1e3))


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    transformers = pytest.importorskip("transformers")
    from engines.tiny_model import ensure_tiny_model

    return transformers.PreTrainedTokenizerFast.from_pretrained(str(ensure_tiny_model()))


def _strategy(spec: LoadSpec, tokenizer: Any) -> Outcome:
    async def main() -> Outcome:
        async with serve(fake_openai_app(delay_s=0.002)) as base:
            target = Target(f"{base}/ok", "m", tokenizer)
            return await asyncio.to_thread(run_strategy, spec, target)

    return asyncio.run(main())


BASE = dict(input_len=12, output_len=4, num_requests=12, timeout_s=10.0)


@pytest.mark.parametrize("name", ["constant", "poisson", "gamma", "max_throughput", "concurrency"])
def test_simple_strategies(name: str, tokenizer: Any) -> None:
    spec = LoadSpec(name=name, rate=200.0, burstiness=0.5, concurrency=3, warmup_requests=2, **BASE)
    out = _strategy(spec, tokenizer)
    assert len(out.records) == 14 and all(r.ok for r in out.records)
    assert out.metrics["num_requests"] == 12 and out.metrics["output_token_throughput"] > 0
    assert out.steps == []
    if name != "concurrency":
        assert out.metrics["offered_rate"] == (math.inf if name == "max_throughput" else 200.0)


def test_rate_sweep_measures_max_then_sweeps(tokenizer: Any) -> None:
    spec = LoadSpec(name="rate_sweep", sweep_kind="geometric", sweep_num_rates=3, sweep_min_rate=5.0, **BASE)
    out = _strategy(spec, tokenizer)
    rates = [s["offered_rate"] for s in out.steps]
    assert len(rates) == 4 and math.isinf(rates[0]) and rates[1] == 5.0
    assert rates[3] == pytest.approx(out.metrics["max_request_throughput"])
    assert [s["step"] for s in out.steps] == [0, 1, 2, 3] and out.metrics["num_steps"] == 4
    assert len(out.records) == 48 and len({r.request_id for r in out.records}) == 48
    assert [r.step for r in out.records] == [i for i in range(4) for _ in range(12)]
    listed = _strategy(
        LoadSpec(name="rate_sweep", sweep_kind="list", sweep_rates=(50.0, 100.0), **BASE), tokenizer
    )
    assert [s["offered_rate"] for s in listed.steps] == [50.0, 100.0]


def test_sla_search_reports_each_probe(tokenizer: Any) -> None:
    spec = LoadSpec(
        name="sla_search", slo=(("ttft_ms", 5000.0),), sla_min_rate=10.0, sla_max_rate=40.0, sla_iterations=3,
        **BASE,
    )  # fmt: skip
    out = _strategy(spec, tokenizer)
    assert out.metrics["sla_max_rate"] == 40.0 and out.metrics["sla_found"] is True
    assert len(out.steps) == 1 and out.steps[0]["slo_passed"] == 1.0
    strict = LoadSpec(**{**vars(spec), "slo": (("ttft_ms", 1e-6),)})
    out = _strategy(strict, tokenizer)
    assert math.isnan(out.metrics["sla_max_rate"]) and [s["offered_rate"] for s in out.steps] == [40.0, 10.0]
    assert out.metrics["valid"] is True and "no probed rate" in out.message


def test_static_batch_strategy(tokenizer: Any) -> None:
    spec = LoadSpec(name="static_batch", batch_size=2, runs=3, warmups=1, **BASE)
    out = _strategy(spec, tokenizer)
    assert len(out.records) == 8 and out.metrics["valid"] is True and out.metrics["runs"] == 3
    assert out.metrics["prefill_latency_min_ms"] <= out.metrics["prefill_latency_avg_ms"]
    assert out.metrics["decode_throughput_avg"] > 0
