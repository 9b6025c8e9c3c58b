"""Closed-loop driver: payloads, exactly N in flight (server-side counters), warmup, errors."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

import workloads.clients.session as session_mod
import workloads.driver as driver_mod
from tests.fake_http import serve
from tests.unit.workloads.clients.test_openai import IN_FLIGHT, fake_openai_app
from workloads.datasets import Prompt
from workloads.driver import build_payloads, run_concurrency, run_concurrency_sync
from workloads.records import RequestRecord

PROMPTS = [Prompt("w1 w2", 3), Prompt("w3", 2)]


def test_build_payloads_completions_and_chat() -> None:
    comp = build_payloads("m", PROMPTS, 16, api="completions", ignore_eos=True)
    assert comp[0] == {
        "model": "m",
        "prompt": "w1 w2",
        "max_tokens": 16,
        "min_tokens": 16,
        "ignore_eos": True,
        "temperature": 0.0,
    }
    chat = build_payloads("m", PROMPTS, 8, api="chat", ignore_eos=False, temperature=0.5)
    assert chat[1] == {
        "model": "m",
        "messages": [{"role": "user", "content": "w3"}],
        "max_tokens": 8,
        "ignore_eos": False,
        "temperature": 0.5,
    }
    with pytest.raises(ValueError, match=r"workload\.api"):
        build_payloads("m", PROMPTS, 8, api="bogus", ignore_eos=False)


@dataclass
class Lockstep:
    """Server that releases one held request only when exactly ``n`` are in flight (or no more can
    come), so any moment with fewer than ``n`` in flight while payloads remain stalls the run."""

    n: int
    total: int
    in_flight: int = 0
    arrived: int = 0
    seen_at_arrival: list[int] = field(default_factory=list)
    waiting: deque[asyncio.Event] = field(default_factory=deque)

    def _maybe_release(self) -> None:
        if self.waiting and (self.in_flight == self.n or self.arrived == self.total):
            self.waiting.popleft().set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.in_flight += 1
        self.arrived += 1
        self.seen_at_arrival.append(self.in_flight)
        go = asyncio.Event()
        self.waiting.append(go)
        self._maybe_release()
        await go.wait()
        self.in_flight -= 1  # before [DONE], so the client cannot send its next request earlier
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for obj in ({"choices": [{"text": "a"}]}, {"choices": [], "usage": {"completion_tokens": 1}}):
            await resp.write(f"data: {json.dumps(obj)}\n\n".encode())
        self._maybe_release()
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


@pytest.mark.parametrize(("n", "total"), [(1, 5), (4, 40), (7, 30)])
def test_exactly_n_in_flight_at_all_times(n: int, total: int) -> None:
    server = Lockstep(n=n, total=total)
    app = web.Application()
    app.router.add_post("/v1/completions", server.handle)

    async def main() -> list[RequestRecord]:
        async with serve(app) as base:
            return await run_concurrency(base, [{"max_tokens": 1}] * total, concurrency=n, timeout_s=5.0)

    records = asyncio.run(main())
    assert all(r.ok for r in records), [r.error for r in records if not r.ok]
    assert server.arrived == total
    assert max(server.seen_at_arrival) == n
    # Ramp-up 1..n, then every new request finds the other n-1 still in flight.
    assert server.seen_at_arrival == [*range(1, n + 1), *[n] * (total - n)]


def test_realistic_stream_keeps_max_n_and_records_everything_in_order() -> None:
    payloads = [{"max_tokens": 3, "i": i} for i in range(20)]
    app = fake_openai_app(delay_s=0.005)

    async def main() -> list[RequestRecord]:
        async with serve(app) as base:
            return await run_concurrency(
                f"{base}/ok", payloads, concurrency=4, timeout_s=5.0, warmup=3, input_tokens=[5] * 20
            )

    records = asyncio.run(main())
    assert app[IN_FLIGHT] == {"now": 0, "max": 4, "total": 20}
    assert [r.request_id for r in records] == list(range(20))
    assert [r.warmup for r in records] == [True] * 3 + [False] * 17
    assert all(r.ok and r.output_tokens == 3 and len(r.token_times_ns) == 3 for r in records)
    assert all(r.scheduled_ns <= r.sent_ns < r.token_times_ns[0] for r in records)


def test_chat_api_and_mixed_errors_never_raise() -> None:
    async def main() -> tuple[list[RequestRecord], list[RequestRecord]]:
        async with serve(fake_openai_app()) as base:
            chat = await run_concurrency(
                f"{base}/ok", [{"max_tokens": 2}] * 3, concurrency=2, timeout_s=5.0, api="chat"
            )
            cut = await run_concurrency(f"{base}/cut", [{"max_tokens": 4}] * 3, concurrency=5, timeout_s=5.0)
        return chat, cut

    chat, cut = asyncio.run(main())
    assert all(r.ok and r.output_text == "w0 w1 " for r in chat)
    assert [r.error_kind for r in cut] == ["truncated"] * 3


def test_sync_wrapper_against_closed_port_records_connect_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    records = run_concurrency_sync(f"http://127.0.0.1:{port}", [{}] * 4, concurrency=2, timeout_s=2.0)
    assert [r.error_kind for r in records] == ["connect"] * 4
    assert run_concurrency_sync(f"http://127.0.0.1:{port}", [], concurrency=2, timeout_s=1.0) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concurrency": 0}, r"workload\.concurrency"),
        ({"concurrency": 1, "warmup": 3}, r"workload\.warmup"),
        ({"concurrency": 1, "api": "grpc"}, r"workload\.api"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run_concurrency_sync("http://127.0.0.1:9", [{}, {}], timeout_s=1.0, **kwargs)


def test_one_session_per_run_with_keep_alive_connections_bounded_by_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions: list[session_mod.HTTPSession] = []
    connections: list[object] = []
    real_open, real_made = driver_mod.open_session, session_mod._Connection.connection_made

    def counting_open(limit: int) -> session_mod.HTTPSession:
        sessions.append(real_open(limit))
        return sessions[-1]

    def counting_made(self: session_mod._Connection, transport: asyncio.BaseTransport) -> None:
        connections.append(self)
        real_made(self, transport)

    monkeypatch.setattr(driver_mod, "open_session", counting_open)
    monkeypatch.setattr(session_mod._Connection, "connection_made", counting_made)

    async def main() -> list[RequestRecord]:
        async with serve(fake_openai_app(delay_s=0.001)) as base:
            return await run_concurrency(f"{base}/ok", [{"max_tokens": 2}] * 9, concurrency=3, timeout_s=5.0)

    assert all(r.ok for r in asyncio.run(main()))
    assert len(sessions) == 1 and sessions[0].limit == 3
    assert 1 <= len(connections) <= 3  # 9 requests over at most 3 kept-alive connections
