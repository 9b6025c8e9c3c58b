"""OpenAI streaming client against an in-process aiohttp server (127.0.0.1, ephemeral port)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from typing import Any

import pytest
from aiohttp import web

from tests.fake_http import serve
from workloads.clients.openai import CLIENTS, endpoint_url, stream_openai
from workloads.clients.session import open_session
from workloads.records import RequestRecord

TOKEN_DELAY_S = 0.01
PROMPT_TOKENS = 7

RECEIVED = web.AppKey("received", list)
IN_FLIGHT = web.AppKey("in_flight", dict)


def _chunk(text: str, *, chat: bool) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": text}} if chat else {"index": 0, "text": text}
    return {"id": "x", "object": "chunk", "choices": [choice]}


async def _send(resp: web.StreamResponse, obj: dict[str, Any] | str) -> None:
    data = obj if isinstance(obj, str) else json.dumps(obj)
    await resp.write(f"data: {data}\n\n".encode())


def fake_openai_app(*, delay_s: float = TOKEN_DELAY_S) -> web.Application:
    """Fake server; the first path segment picks a behaviour: ok, nousage, http500, cut, abort,
    stall, stallmid, badjson, errorobj. ``max_tokens`` tokens ``w<i> `` are streamed ``delay_s``
    apart, then a usage chunk (when asked for) and ``[DONE]``. ``app[IN_FLIGHT]`` counts handlers
    running now / at most / in total."""
    received: list[dict[str, Any]] = []
    counts = {"now": 0, "max": 0, "total": 0}

    async def handle(request: web.Request) -> web.StreamResponse:
        counts["now"] += 1
        counts["total"] += 1
        counts["max"] = max(counts["max"], counts["now"])
        try:
            return await _respond(request)
        finally:
            counts["now"] -= 1

    async def _respond(request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        chat = request.path.endswith("/chat/completions")
        body = await request.json()
        received.append(body)
        if mode == "http500":
            return web.Response(status=500, text="internal boom " * 50)
        if mode == "stall":
            await asyncio.sleep(30)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b": comment line\n\n")
        if chat:
            await _send(resp, {"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        n = int(body.get("max_tokens", 4))
        for i in range(n):
            await asyncio.sleep(delay_s)
            await _send(resp, _chunk(f"w{i} ", chat=chat))
            if mode in ("cut", "abort", "stallmid", "badjson", "errorobj") and i == 1:
                break
        if mode == "cut":
            return resp
        if mode == "abort":
            assert request.transport is not None
            request.transport.abort()
            return resp
        if mode == "stallmid":
            await asyncio.sleep(30)
        if mode == "badjson":
            await resp.write(b"data: {not json\n\n")
        if mode == "errorobj":
            await _send(resp, {"error": {"message": "engine died", "code": 500}})
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n, "total_tokens": n + PROMPT_TOKENS}
        if mode != "nousage" and body.get("stream_options", {}).get("include_usage"):
            await _send(resp, {"choices": [], "usage": usage})
        await _send(resp, "[DONE]")
        await resp.write_eof()
        return resp

    app = web.Application()
    app[RECEIVED] = received
    app[IN_FLIGHT] = counts
    app.router.add_post("/{mode}/v1/completions", handle)
    app.router.add_post("/{mode}/v1/chat/completions", handle)
    return app


async def _one(url: str, payload: dict[str, Any], **kwargs: Any) -> RequestRecord:
    async with open_session(1) as session:
        kwargs.setdefault("timeout_s", 5.0)
        return await stream_openai(session, url, payload, request_id=3, scheduled_ns=0, **kwargs)


def _run(mode: str, api: str = "completions", max_tokens: int = 5, **kwargs: Any) -> RequestRecord:
    async def main() -> RequestRecord:
        async with serve(fake_openai_app()) as base:
            return await _one(endpoint_url(f"{base}/{mode}", api), {"max_tokens": max_tokens}, **kwargs)

    return asyncio.run(main())


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_successful_stream(api: str) -> None:
    payload = {"model": "m", "max_tokens": 5}

    async def main() -> tuple[RequestRecord, list[dict[str, Any]]]:
        app = fake_openai_app()
        async with serve(app) as base:
            rec = await _one(endpoint_url(f"{base}/ok", api), payload, warmup=True)
        return rec, app[RECEIVED]

    rec, received = asyncio.run(main())
    assert rec.ok and rec.error_kind is None and rec.error is None
    assert rec.request_id == 3 and rec.warmup
    assert payload == {"model": "m", "max_tokens": 5}  # not mutated
    assert received[0]["stream"] is True and received[0]["stream_options"] == {"include_usage": True}
    assert rec.output_text == "w0 w1 w2 w3 w4 "
    assert len(rec.token_times_ns) == 5  # chat's role-only chunk and the comment carry no token
    assert (rec.input_tokens, rec.output_tokens) == (PROMPT_TOKENS, 5)
    assert rec.sent_ns < rec.token_times_ns[0] <= rec.token_times_ns[-1] <= rec.end_ns
    assert rec.e2e_ns is not None and rec.ttft_ns is not None
    assert rec.e2e_ns - rec.ttft_ns == sum(rec.itl_ns)
    assert min(rec.itl_ns) >= TOKEN_DELAY_S * 1e9 * 0.5


def test_usage_missing_falls_back_to_tokenizer_callable_else_unknown() -> None:
    counted = _run("nousage", count_tokens=lambda text: len(text.split()), input_tokens=11)
    assert counted.ok and counted.output_tokens == 5 and counted.input_tokens == 11
    unknown = _run("nousage")
    assert unknown.ok and unknown.output_tokens == -1 and unknown.input_tokens == -1


def test_http_error_reports_status_and_body_head() -> None:
    rec = _run("http500")
    assert not rec.ok and rec.error_kind == "http"
    assert rec.error is not None and rec.error.startswith("HTTP 500: internal boom")
    assert len(rec.error) <= len("HTTP 500: ") + 200


@pytest.mark.parametrize("mode", ["cut", "abort"])
def test_stream_ending_before_done_is_truncated(mode: str) -> None:
    rec = _run(mode)
    assert not rec.ok and rec.error_kind == "truncated", rec.error
    assert len(rec.token_times_ns) == 2 and rec.output_text == "w0 w1 "


@pytest.mark.parametrize("mode", ["stall", "stallmid"])
def test_stalled_server_times_out(mode: str) -> None:
    rec = _run(mode, timeout_s=0.3)
    assert not rec.ok and rec.error_kind == "timeout"
    assert 0.25e9 <= rec.end_ns - rec.sent_ns < 5e9


def test_closed_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> RequestRecord:
        return await _one(f"http://127.0.0.1:{port}/v1/completions", {"max_tokens": 2})

    rec = asyncio.run(main())
    assert not rec.ok and rec.error_kind == "connect" and rec.token_times_ns == []


@pytest.mark.parametrize(("mode", "kind"), [("badjson", "protocol"), ("errorobj", "http")])
def test_bad_data_events(mode: str, kind: str) -> None:
    rec = _run(mode)
    assert not rec.ok and rec.error_kind == kind, rec.error
    assert len(rec.token_times_ns) == 2


def test_scripted_clock_gives_exact_timeline() -> None:
    ticks = itertools.count(start=1000, step=1000)
    rec = _run("ok", max_tokens=4, clock=lambda: next(ticks))
    assert rec.sent_ns == 2000  # tick 1: when tried (kept if never sent); tick 2: after the write
    times = rec.token_times_ns
    assert len(times) == 4 and times == sorted(times) and len(set(times)) == 4
    assert rec.ttft_ns == times[0] - 2000 and rec.e2e_ns == times[-1] - 2000
    assert rec.e2e_ns - rec.ttft_ns == sum(rec.itl_ns)


def test_cancellation_propagates() -> None:
    async def main() -> None:
        async with serve(fake_openai_app()) as base:
            task = asyncio.create_task(_one(f"{base}/stall/v1/completions", {"max_tokens": 2}))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


def test_registry_and_endpoint_urls() -> None:
    assert set(CLIENTS) == {"completions", "chat", "tgi"}
    with pytest.raises(TypeError):
        CLIENTS["x"] = stream_openai  # type: ignore[index]
    assert endpoint_url("http://h:1", "chat") == "http://h:1/v1/chat/completions"
    assert endpoint_url("http://h:1/v1/", "completions") == "http://h:1/v1/completions"
    assert endpoint_url("http://h:1/v1/completions", "completions") == "http://h:1/v1/completions"
    with pytest.raises(ValueError, match=r"workload\.api"):
        endpoint_url("http://h:1", "grpc")


def test_sent_is_stamped_after_the_write_and_kept_from_the_try_when_never_sent() -> None:
    """sent_ns is the clock read right after the request was written (the 2nd read; the 1st is
    when the request was tried); a never-connected request keeps the try's read."""
    from workloads.clients.session import open_session

    async def main() -> tuple[RequestRecord, RequestRecord]:
        async with serve(fake_openai_app()) as base, open_session(2) as session:
            ticks = itertools.count(start=1000, step=1000)
            url = endpoint_url(f"{base}/ok", "completions")
            traced = await stream_openai(
                session, url, {"max_tokens": 2}, request_id=0, scheduled_ns=0, timeout_s=5.0,
                clock=lambda: next(ticks),
            )  # fmt: skip
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        async with open_session(1) as session:
            refused = await stream_openai(
                session, f"http://127.0.0.1:{port}/v1/completions", {"max_tokens": 2}, request_id=1,
                scheduled_ns=0, timeout_s=5.0, clock=lambda: 7,
            )  # fmt: skip
        return traced, refused

    traced, refused = asyncio.run(main())
    assert traced.ok and traced.sent_ns == 2000  # 1000 = tried, 2000 = written
    assert traced.token_times_ns[0] > traced.sent_ns
    assert not refused.ok and refused.error_kind == "connect" and refused.sent_ns == 7
