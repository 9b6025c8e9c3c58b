"""TGI client against an in-process server speaking TGI's documented /generate_stream and /info.

The server writes bytes exactly as TGI's router (axum SSE) does: ``data:`` without a space, one
JSON object per event, ``\\n\\n`` between events, no ``[DONE]``; the last token's event carries
``generated_text`` and ``details``; failures mid-stream are ``{"error": .., "error_type": ..}``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from aiohttp import web

from engines.base import LaunchSpec
from engines.tgi.engine import TGIEngine
from tests.fake_http import serve
from workloads.clients.openai import CLIENTS
from workloads.clients.session import open_session
from workloads.clients.tgi import stream_tgi, tgi_body
from workloads.driver import run_concurrency
from workloads.records import RequestRecord

RECEIVED = web.AppKey("received", list)
MODEL_ID = "bigscience/bloomz-7b1-mt"
INFO = {
    "model_id": MODEL_ID, "model_sha": "dd1f4d0ed3ba1c5d3f4f2f2e6f6a4b8a0e2b1c6d",
    "model_dtype": "torch.float16", "model_device_type": "cuda", "model_pipeline_tag": "text-generation",
    "max_concurrent_requests": 128, "max_best_of": 2, "max_stop_sequences": 4, "max_input_length": 1000,
    "max_total_tokens": 1512, "waiting_served_ratio": 1.2, "max_batch_total_tokens": 32000,
    "max_waiting_tokens": 20, "validation_workers": 2, "version": "1.0.3",
    "sha": "5485c142e87e2b4e2e6e6a3b2a7ff0b36e0a0d52", "docker_label": "sha-5485c14",
}  # fmt: skip


def token_event(i: int, text: str, *, special: bool = False, final: str | None = None,
                details: dict[str, Any] | None = None) -> bytes:  # fmt: skip
    obj = {
        "index": i,
        "token": {"id": 1000 + i, "text": text, "logprob": -0.25, "special": special},
        "generated_text": final,
        "details": details,
    }
    return b"data:" + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def tgi_app() -> web.Application:
    """Modes by path prefix: ok, special, errorevent, http422, overloaded, cut, badjson, bytewise."""
    received: list[dict[str, Any]] = []

    async def info(request: web.Request) -> web.Response:
        return web.json_response(INFO)

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def generate_stream(request: web.Request) -> web.StreamResponse:
        mode = request.match_info.get("mode", "ok")
        body = await request.json()
        received.append(body)
        params = body["parameters"]
        n = int(params.get("max_new_tokens", 4))
        if mode == "http422":
            message = (
                "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 1512. "
                f"Given: 1000 `inputs` tokens and {n} `max_new_tokens`"
            )
            err = {"error": message, "error_type": "validation"}
            return web.json_response(err, status=422)
        if mode == "overloaded":
            return web.json_response({"error": "Model is overloaded", "error_type": "overloaded"}, status=429)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        texts = [f" w{i}" for i in range(n)]
        events = []
        for i, text in enumerate(texts, 1):
            last = i == n
            details = {"finish_reason": "length", "generated_tokens": n, "seed": None}
            special = mode == "special" and last
            events.append(
                token_event(
                    i, "</s>" if special else text, special=special,
                    final="".join(texts[: n - 1 if special else n]) if last else None,
                    details=details if last and params.get("details") else None,
                )
            )  # fmt: skip
        if mode == "errorevent":
            events = [
                *events[:2],
                b'data:{"error":"Request failed during generation: Server error: CUDA out of memory",'
                b'"error_type":"generation"}\n\n',
            ]
        if mode == "cut":
            events = events[:-1]
        if mode == "badjson":
            events = [*events[:1], b"data:{not json\n\n"]
        for event in events:
            if mode == "bytewise":
                for b in event:
                    await resp.write(bytes([b]))
            else:
                await resp.write(event)
            await asyncio.sleep(0.002)
        return resp

    app = web.Application()
    app[RECEIVED] = received
    app.router.add_get("/info", info)
    app.router.add_get("/health", health)
    app.router.add_post("/{mode}/generate_stream", generate_stream)
    app.router.add_post("/generate_stream", generate_stream)
    return app


async def request(url: str, payload: dict[str, Any], timeout_s: float = 10.0) -> RequestRecord:
    async with open_session(1) as session:
        return await stream_tgi(session, url, payload, request_id=3, scheduled_ns=0, timeout_s=timeout_s,
                                input_tokens=11)  # fmt: skip


async def one(mode: str, payload: dict[str, Any] | None = None) -> tuple[RequestRecord, list[dict[str, Any]]]:
    app = tgi_app()
    async with serve(app) as base:
        rec = await request(f"{base}/{mode}/generate_stream", payload or {"prompt": "hello", "max_tokens": 5})
    return rec, app[RECEIVED]


@pytest.mark.parametrize("mode", ["ok", "bytewise"])
def test_ok_stream(mode: str) -> None:
    rec, received = asyncio.run(one(mode))
    assert rec.ok, rec.error
    assert rec.output_tokens == 5 and len(rec.token_times_ns) == 5
    assert rec.output_text == " w0 w1 w2 w3 w4"
    assert rec.input_tokens == 11 and rec.request_id == 3
    assert rec.end_ns == rec.token_times_ns[-1] and rec.token_times_ns == sorted(rec.token_times_ns)
    assert received == [
        {"inputs": "hello", "parameters": {"details": True, "do_sample": False, "max_new_tokens": 5}}
    ]


def test_without_details_counts_non_special_tokens() -> None:
    payload = {"inputs": "hi", "parameters": {"max_new_tokens": 4, "details": False}}
    rec, received = asyncio.run(one("special", payload))
    assert rec.ok, rec.error
    assert received[0]["parameters"]["details"] is False
    assert len(rec.token_times_ns) == 4  # every event carries a token
    assert rec.output_tokens == 3  # the special </s> is not counted without details
    assert rec.output_text == " w0 w1 w2"


def test_details_count_wins_over_events() -> None:
    rec, _ = asyncio.run(one("special", {"prompt": "hi", "max_tokens": 4}))
    assert rec.output_tokens == 4  # details.generated_tokens (TGI counts the EOS it generated)


@pytest.mark.parametrize(
    ("mode", "kind", "text"),
    [
        ("errorevent", "http", "CUDA out of memory"),
        ("http422", "http", "HTTP 422: validation: Input validation error"),
        ("overloaded", "http", "HTTP 429: overloaded: Model is overloaded"),
        ("cut", "truncated", "before the final event"),
        ("badjson", "protocol", "bad JSON"),
    ],
)
def test_errors_are_records(mode: str, kind: str, text: str) -> None:
    rec, _ = asyncio.run(one(mode))
    assert not rec.ok
    assert rec.error_kind == kind
    assert text in (rec.error or "")


def test_connect_error_and_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = asyncio.run(request(f"http://127.0.0.1:{port}/generate_stream", {"prompt": "x", "max_tokens": 2}))
    assert (rec.ok, rec.error_kind) == (False, "connect")

    async def slow() -> RequestRecord:
        async with serve(tgi_app()) as base:
            return await request(f"{base}/ok/generate_stream", {"prompt": "x", "max_tokens": 200}, 0.05)

    rec = asyncio.run(slow())
    assert (rec.ok, rec.error_kind) == (False, "timeout")


def test_tgi_body_translation() -> None:
    body = tgi_body({"model": "m", "prompt": "p", "max_tokens": 7, "temperature": 0.7, "seed": 3,
                     "ignore_eos": True, "min_tokens": 7})  # fmt: skip
    assert body == {"inputs": "p", "parameters": {"details": True, "do_sample": True, "temperature": 0.7,
                                                  "max_new_tokens": 7, "seed": 3}}  # fmt: skip
    assert tgi_body({"messages": [{"role": "user", "content": "q"}], "max_tokens": 1})["inputs"] == "q"


def test_driver_uses_the_tgi_client_and_engine_readiness() -> None:
    assert CLIENTS["tgi"] is stream_tgi

    async def run() -> tuple[list[RequestRecord], bool, str]:
        async with serve(tgi_app()) as base:
            host, port = base.removeprefix("http://").split(":")
            spec = LaunchSpec(MODEL_ID, "bloomz", 1, host, int(port), "gpu")
            engine = TGIEngine()
            ready = await asyncio.to_thread(engine.ready, spec)
            version = await asyncio.to_thread(engine.version, spec)
            payloads = [{"prompt": f"p{i}", "max_tokens": 3} for i in range(6)]
            records = await run_concurrency(engine.completions_url(spec, "completions"), payloads,
                                            concurrency=3, timeout_s=10, api="tgi", warmup=1)  # fmt: skip
            return records, ready, version

    records, ready, version = asyncio.run(run())
    assert ready and version == "1.0.3"
    assert [r.ok for r in records] == [True] * 6 and [r.warmup for r in records] == [True] + [False] * 5
    assert all(r.output_tokens == 3 for r in records)


def test_not_ready_when_info_names_another_model() -> None:
    async def run() -> bool:
        async with serve(tgi_app()) as base:
            host, port = base.removeprefix("http://").split(":")
            spec = LaunchSpec("other/model", "other", 1, host, int(port), "gpu")
            return await asyncio.to_thread(TGIEngine().ready, spec)

    assert asyncio.run(run()) is False
