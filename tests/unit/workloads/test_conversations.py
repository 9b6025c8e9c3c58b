"""Conversation datasets end to end against a fake server with a prefix cache: ShareGPT's full
conversations, per-turn metrics, cached-token rates, and the prefix-cache flag left alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from orchestrator.core.load import LoadSpec
from orchestrator.core.validity import FlagKind
from tests.fake_http import completions_app, end_stream, serve_in_thread
from tests.unit.workloads.test_datasets import tiny_tokenizer  # noqa: F401 (fixture)
from workloads.checks import check_point
from workloads.conversations import join_history, sharegpt_sessions
from workloads.point_run import Target
from workloads.sharegpt import read_sessions
from workloads.strategies import run_strategy

BLOCK = 16  # the fake's cache block, in words


def _cached_app(prompts: list[str]) -> web.Application:
    """Streams ``max_tokens`` words; usage reports the prompt's words + BOS and, as cached, the
    longest prefix (whole blocks of words) it shares with any earlier prompt."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        words = body["prompt"].split()
        cached = max((_common(words, p.split()) for p in prompts), default=0) // BLOCK * BLOCK
        prompts.append(body["prompt"])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        n = int(body["max_tokens"])
        for i in range(n):
            await asyncio.sleep(0.001)
            chunk = {"choices": [{"index": 0, "text": f" w{(len(prompts) * 7 + i) % 1000}"}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"prompt_tokens": len(words) + 1, "completion_tokens": n, "total_tokens": len(words) + 1 + n}
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return await end_stream(resp, usage)

    return completions_app(handle)


def _common(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@contextmanager
def cached_server() -> Iterator[tuple[str, list[str]]]:
    prompts: list[str] = []
    with serve_in_thread(_cached_app(prompts)) as base:
        yield f"{base}/v1/completions", prompts


CONV: dict[str, Any] = dict(dataset="conversation", turns=3, input_len=40, output_len=4, num_requests=4)


@pytest.mark.parametrize("name", ["concurrency", "poisson"])
def test_conversation_point_has_per_turn_and_cached_metrics(name: str, tiny_tokenizer: Any) -> None:  # noqa: F811
    rate = {"rate": 50.0} if name == "poisson" else {"concurrency": 2}
    spec = LoadSpec(name=name, warmup_requests=2, think_time_s=0.005, timeout_s=10.0, **rate, **CONV)
    with cached_server() as (url, prompts):
        outcome = run_strategy(spec, Target(url, "m", tiny_tokenizer))
    records, m = outcome.records, outcome.metrics
    measured = [r for r in records if not r.warmup]
    assert len(prompts) == 2 + 12 and all(r.ok for r in records)
    assert [r.request_id for r in records] == list(range(14))  # warmups 0, 1; then by session and turn
    assert [(r.session, r.turn) for r in measured] == [(s, k) for s in range(4) for k in (1, 2, 3)]
    assert m["num_requests"] == 12 and m["num_sessions"] == 4 and m["num_sessions_complete"] == 4
    assert m["max_turn"] == 3 and m["valid"]
    for k, expected in ((1, 40), (2, 40 + 4 + 40), (3, 40 + 2 * (4 + 40))):
        assert m[f"turn{k}_num_ok"] == 4 and m[f"turn{k}_input_tokens_mean"] == expected
        assert m[f"turn{k}_ttft_p50_ms"] > 0 and m[f"turn{k}_e2e_p99_ms"] >= m[f"turn{k}_ttft_p50_ms"]
    # turn 1 shares nothing; later turns re-send their history (39, then 83 words after the BOS):
    # 2, then 5 whole blocks of 16
    assert m["turn1_cached_token_rate"] == 0
    assert m["turn2_cached_token_rate"] == pytest.approx(32 / 84)
    assert m["turn3_cached_token_rate"] == pytest.approx(80 / 128)
    assert m["cached_token_rate"] == pytest.approx((32 + 80) / (40 + 84 + 128))
    assert m["num_short_outputs"] == 0 and m["requested_output_tokens"] == 4
    for r in measured:
        if r.turn > 1:
            prev = next(p for p in measured if p.session == r.session and p.turn == r.turn - 1)
            assert r.sent_ns >= prev.end_ns + 5_000_000  # the response, then the think time
    if name == "poisson":
        assert m["offered_rate"] == 50.0
    # built to be served from the cache: the engine's hit counters are no flag
    engine = {**m, "engine_prefix_cache_hits": 500.0, "engine_prefix_cache_queries": 1000.0}
    assert FlagKind.PREFIX_CACHE_HITS not in {f.kind for f in check_point(spec, engine)}


def _sharegpt(path: Path) -> None:
    rng = np.random.default_rng(0)

    def words(n: int) -> str:
        return " ".join(f"w{int(i)}" for i in rng.integers(0, 1000, size=n))

    conversations = [
        {"conversations": [
            {"from": "system", "value": "be brief"},
            {"from": "human", "value": words(5)}, {"from": "gpt", "value": words(30)},
            {"from": "human", "value": words(6)}, {"from": "gpt", "value": words(2)},
            {"from": "human", "value": words(60)}, {"from": "gpt", "value": words(3)},
        ]},
        {"conversations": [
            {"from": "human", "value": words(7)}, {"from": "gpt", "value": words(4)},
            {"from": "gpt", "value": "two replies in a row end the exchanges"},
            {"from": "human", "value": words(3)}, {"from": "gpt", "value": words(3)},
        ]},
        {"conversations": [{"from": "gpt", "value": "no user turn"}]},
        {"conversations": "malformed"},
    ]  # fmt: skip
    path.write_text(json.dumps(conversations))


def test_sharegpt_full_conversations(tmp_path: Path, tiny_tokenizer: Any) -> None:  # noqa: F811
    path = tmp_path / "sg.json"
    _sharegpt(path)
    sessions = read_sessions(path)
    assert [len(s) for s in sessions] == [3, 1]  # system prompt skipped; the second stops at the break
    plans = sharegpt_sessions(tiny_tokenizer, sessions, 3, 4, 50, 16, np.random.default_rng(1))
    by_turns = {p.turns: p for p in plans}
    # the first conversation: its third user turn (60 words) is above input_len=50, so it ends there
    two = by_turns[2]
    assert two.user_tokens == (6, 6) and two.output_lens == (16, 2)  # 30-word reply capped at 16
    one = by_turns[1]
    assert one.user_tokens == (8,) and one.output_lens == (4,)
    assert len(plans) == 3 and [p.index for p in plans] == [0, 1, 2]  # cycling through both
    with pytest.raises(ValueError, match="no conversation"):
        read_sessions(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps([{"conversations": [{"from": "gpt", "value": "x"}]}]))
    return path


def test_history_joins_pieces_with_one_space() -> None:
    assert join_history(["a", "b", " c", "d ", "e", ""]) == "a b c d e"
    assert join_history(["w1 w2", " w3", "w4"]) == "w1 w2 w3 w4"
