"""Reasoning and answer timestamps, reasoning and cached token counts, from recorded streams of
real servers' formats (tests/fixtures/sse/README.md says where each came from)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fake_http import serve
from workloads.clients.openai import _Accumulator, endpoint_url, stream_openai
from workloads.clients.session import open_session
from workloads.clients.sse import SSEParser
from workloads.records import RequestRecord

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sse"
VLLM_CHAT = FIXTURES / "vllm_0.32.0_chat_reasoning.sse"
VLLM_COMPLETIONS = FIXTURES / "vllm_0.32.0_completions_cached.sse"
DEEPSEEK = FIXTURES / "deepseek_chat_reasoning_content.sse"


def replay(path: Path, *, chat: bool) -> _Accumulator:
    """Feed the recorded events to the accumulator, event i stamped (i + 1) µs."""
    acc = _Accumulator(chat=chat)
    events = SSEParser().feed(path.read_bytes())
    for i, event in enumerate(events):
        acc.on_event(event, (i + 1) * 1000)
    assert acc.done
    return acc


def test_vllm_chat_reasoning_then_answer_stamps_and_counts() -> None:
    acc = replay(VLLM_CHAT, chat=True)
    # event 1 is the role chunk (empty content: no token), 2..9 reasoning, 10..16 answer
    assert acc.token_times_ns == [i * 1000 for i in range(2, 17)]
    assert acc.first_reasoning_ns == 2000 and acc.first_answer_ns == 10_000
    assert acc.reasoning_text() == "Okay, the user asks for 2+2."
    assert acc.text() == "\n\n2 + 2 = 4."
    assert acc.output_tokens() == 17 and acc.input_tokens() == 18
    assert acc.details() == {
        "first_reasoning_ns": 2000,
        "first_answer_ns": 10_000,
        "reasoning_tokens": 9,
        "cached_tokens": 16,
    }


def test_reasoning_content_field_and_usage_on_the_finish_chunk() -> None:
    acc = replay(DEEPSEEK, chat=True)
    # event 1: empty reasoning_content (no token); 2..4 reasoning; 5, 6 answer; 7 empty content
    assert acc.token_times_ns == [2000, 3000, 4000, 5000, 6000]
    assert (acc.first_reasoning_ns, acc.first_answer_ns) == (2000, 5000)
    assert acc.reasoning_text() == "Hmm, a greeting." and acc.text() == "Hello!"
    assert acc.details()["reasoning_tokens"] == 4 and acc.details()["cached_tokens"] == 0


def test_completions_cached_tokens_and_no_reasoning() -> None:
    acc = replay(VLLM_COMPLETIONS, chat=False)
    assert acc.token_times_ns == [1000, 2000, 3000, 4000]
    assert acc.details() == {"first_reasoning_ns": -1, "first_answer_ns": 1000, "cached_tokens": 128}


def test_null_details_are_unknown_not_zero() -> None:
    acc = _Accumulator(chat=False)
    acc.usage = {"prompt_tokens": 5, "prompt_tokens_details": None, "completion_tokens_details": {}}
    assert "cached_tokens" not in acc.details() and "reasoning_tokens" not in acc.details()


def _sse_app(chunks: list[bytes], delay_s: float) -> web.Application:
    """Serves chat and completions with ``chunks`` written one by one, ``delay_s`` apart, as a
    chunked SSE response."""

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chunks:
            await asyncio.sleep(delay_s)
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    app.router.add_post("/v1/completions", handle)
    return app


def _stream(app: web.Application, api: str, payload: dict[str, Any], **kwargs: Any) -> RequestRecord:
    async def main() -> RequestRecord:
        async with serve(app) as base, open_session(1) as session:
            return await stream_openai(
                session, endpoint_url(base, api), payload, request_id=0, scheduled_ns=0, timeout_s=5, **kwargs
            )

    return asyncio.run(main())


def _record(path: Path, api: str) -> RequestRecord:
    """The recorded stream at ``path`` replayed event by event, 5 ms apart."""
    events = [e + b"\n\n" for e in path.read_bytes().split(b"\n\n") if e]
    return _stream(_sse_app(events, 0.005), api, {"max_tokens": 8})


@pytest.mark.parametrize("path", [VLLM_CHAT, DEEPSEEK])
def test_chat_stream_over_http_records_both_first_times(path: Path) -> None:
    rec = _record(path, "chat")
    assert rec.ok, rec.error
    assert rec.ttft_ns is not None and rec.reasoning_ttft_ns is not None and rec.answer_ttft_ns is not None
    assert rec.ttft_ns == rec.reasoning_ttft_ns < rec.answer_ttft_ns  # TTFT: first token of any kind
    reasoning_events = 8 if path == VLLM_CHAT else 3
    # the answer starts after every reasoning event, each written 5 ms after the last
    assert rec.answer_ttft_ns - rec.reasoning_ttft_ns >= reasoning_events * 4_000_000
    assert rec.reasoning_tokens == (9 if path == VLLM_CHAT else 4)
    assert rec.output_tokens == (17 if path == VLLM_CHAT else 6)
    assert rec.output_text == ("\n\n2 + 2 = 4." if path == VLLM_CHAT else "Hello!")


def test_completions_stream_over_http_records_cached_tokens() -> None:
    rec = _record(VLLM_COMPLETIONS, "completions")
    assert rec.ok and rec.cached_tokens == 128 and rec.input_tokens == 272
    assert rec.reasoning_tokens == -1 and rec.first_reasoning_ns == -1
    assert rec.first_answer_ns == rec.token_times_ns[0]


def test_without_usage_the_tokenizer_counts_reasoning_too() -> None:
    body = (
        b'data: {"choices":[{"index":0,"delta":{"reasoning":"a b c"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"d e"}}]}\n\ndata: [DONE]\n\n'
    )

    rec = _stream(_sse_app([body], 0.0), "chat", {}, count_tokens=lambda text: len(text.split()))
    assert rec.ok and rec.output_tokens == 5 and rec.output_text == "d e"
