"""A fast fake OpenAI-compatible streaming server that records server-side timing truth.

Raw asyncio HTTP/1.1 (keep-alive, ``Content-Length`` bodies) on uvloop when installed, one process,
bound to 127.0.0.1. ``POST /v1/completions`` and ``/v1/chat/completions`` stream exactly ``--tokens``
token events (``" w<k>"``, one token each for the tiny local model's word-level tokenizer): the first
``--ttft-ms`` after the request arrived, then one every ``--itl-ms``, then a usage chunk and
``[DONE]``. The request's ``max_tokens`` is ignored so every tool gets the same responses.

Per request it records, with ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux, so comparable
with the clients' clocks on the same machine):

* ``arrival_ns``: when the first bytes of the request were read from the socket,
* ``first_token_ns``: right before the first token event was written,
* ``end_ns``: right after ``[DONE]`` was written,
* ``tag``: the first 32 characters of the prompt (lets a client pair its records with the server's).

With ``--ttft-ms 0`` (the default) the first token is written in the callback that parsed the
request, so ``first_token_ns - arrival_ns`` is the server's whole processing time: its p99 is the
proof that the server was not the bottleneck. Later tokens use loop timers, whose resolution is
about 1 ms (libuv), so inter-token gaps are ``--itl-ms`` or up to ~1 ms more.

``GET /stats`` returns them as JSON columns plus ``lag_p99_us`` (how late the server's own timers
fired), ``stalls`` (``[start_ns, end_ns]`` of every stretch in which the server's loop ran more than
:data:`STALL_NS` late: a watchdog timer due every ms woke that late, so requests stamped then may
have waited in the socket for the server, not for their client) and the process CPU time; ``POST /reset``
clears them. ``GET /v1/models`` and ``/health`` answer for readiness probes.

Run: ``python engines/standins/fake_openai_server.py --port 8711 [--tokens 8 --itl-ms 1 --ttft-ms 0]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

MODEL = "tiny"
_HDR_END = b"\r\n\r\n"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_DONE = b"data: [DONE]\n\n"
try:
    from engines.standins.fake_stats import Stats
except ImportError:  # run as a script by its path: this folder is sys.path[0]
    from fake_stats import Stats  # type: ignore[no-redef]

WATCH_NS = 1_000_000  # the loop watchdog's period
STALL_NS = 1_500_000  # a watchdog wake-up this late past its due time is a server stall


@dataclass(frozen=True)
class ServerConfig:
    """Response shape: tokens per response, delay to the first token, inter-token delay."""

    tokens: int = 8
    ttft_ms: float = 0.0
    itl_ms: float = 1.0


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _plain(status: str, body: bytes, ctype: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status.encode(),
        ctype,
        len(body),
        body,
    )


def _token_events(cfg: ServerConfig, chat: bool) -> list[bytes]:
    """Pre-encoded chunks: one per token, then usage, then [DONE] (prompt_tokens filled per request)."""
    out = []
    for k in range(cfg.tokens):
        if chat:
            obj: dict[str, Any] = {"id": "x", "object": "chat.completion.chunk", "model": MODEL}
            obj["choices"] = [{"index": 0, "delta": {"content": f" w{k}"}, "finish_reason": None}]
        else:
            obj = {"id": "x", "object": "text_completion", "model": MODEL}
            obj["choices"] = [{"index": 0, "text": f" w{k}", "finish_reason": None}]
        out.append(_chunk(b"data: " + json.dumps(obj).encode() + b"\n\n"))
    return out


class _Conn(asyncio.Protocol):
    """One client connection: parses pipelined/keep-alive requests and streams responses."""

    def __init__(self, server: FakeServer) -> None:
        self.srv = server
        self.buf = b""  # bytes of the requests not yet routed; while a long body arrives, in pieces
        self.pieces: list[bytes] = []
        self.size = 0  # len(buf) + the pieces' lengths
        self.need = 0  # bytes the request being read needs in all (0: its head is not complete yet)
        self.arrival = 0
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a streamed response is in progress (requests wait in buf)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:  # no Nagle: a token written after the headers must leave at once
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.srv.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        if not self.size:
            self.arrival = time.perf_counter_ns()
        # A long body (a 128K-token prompt is ~700 KB, many reads) is kept in pieces and joined once
        # it is complete, so reading it costs its length, not its length times the reads.
        self.pieces.append(data)
        self.size += len(data)
        if self.need and self.size < self.need:
            return
        if self.pieces:
            self.buf = b"".join([self.buf, *self.pieces])
            self.pieces = []
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _next(self) -> None:
        while not self.busy and self.transport is not None:
            head_end = self.buf.find(_HDR_END)
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            total = head_end + 4 + length
            if len(self.buf) < total:
                self.need = total
                return
            self.need = 0
            body = self.buf[head_end + 4 : total]
            self.buf = self.buf[total:]
            self.size = len(self.buf)
            arrival = self.arrival
            if self.buf:  # a pipelined request arrived with this one
                self.arrival = time.perf_counter_ns()
            self._route(method, path.split("?", 1)[0], body, arrival)

    def _route(self, method: str, path: str, body: bytes, arrival: int) -> None:
        t = self.transport
        assert t is not None
        if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            self._stream(body, arrival, chat=path.endswith("chat/completions"))
        elif path in ("/v1/models", "/models"):
            t.write(_plain("200 OK", self.srv.models_body))
        elif path in ("/health", "/"):
            t.write(_plain("200 OK", b"{}"))
        elif path == "/stats":
            t.write(_plain("200 OK", self.srv.stats.as_json()))
        elif path == "/reset" and method == "POST":
            self.srv.stats = Stats()
            t.write(_plain("200 OK", b"{}"))
        else:
            t.write(_plain("404 Not Found", b'{"error": {"message": "not found", "code": 404}}'))

    def _stream(self, body: bytes, arrival: int, *, chat: bool) -> None:
        try:
            req = json.loads(body)
        except ValueError:
            req = {}
        if chat:
            msgs = req.get("messages") or [{}]
            content = msgs[-1].get("content", "") if isinstance(msgs[-1], dict) else ""
            prompt = content if isinstance(content, str) else json.dumps(content)
        else:
            p = req.get("prompt", "")
            prompt = p if isinstance(p, str) else json.dumps(p)
        cfg = self.srv.cfg
        events = self.srv.chat_events if chat else self.srv.text_events
        usage = {"prompt_tokens": len(prompt.split()) + 1, "completion_tokens": cfg.tokens}
        usage["total_tokens"] = usage["prompt_tokens"] + cfg.tokens
        kind = "chat.completion.chunk" if chat else "text_completion"
        tail_obj = {"id": "x", "object": kind, "model": MODEL, "choices": [], "usage": usage}
        tail = _chunk(b"data: " + json.dumps(tail_obj).encode() + b"\n\n") + _chunk(_DONE) + b"0\r\n\r\n"
        stats = self.srv.stats
        idx = len(stats.arrival_ns)
        stats.arrival_ns.append(arrival)
        stats.first_token_ns.append(0)
        stats.end_ns.append(0)
        stats.tag.append(prompt[:32])
        self.busy = True
        assert self.transport is not None
        self.transport.write(_SSE_HEAD)
        if self.srv.ttft_ns == 0:  # no timer: the first token leaves in this very callback
            self._emit(stats, idx, events, tail, 0, time.perf_counter_ns())
            return
        first_due = arrival + self.srv.ttft_ns
        delay = max(0.0, (first_due - time.perf_counter_ns()) / 1e9)
        asyncio.get_running_loop().call_later(delay, self._emit, stats, idx, events, tail, 0, first_due)

    def _emit(self, stats: Stats, idx: int, events: list[bytes], tail: bytes, k: int, due: int) -> None:
        now = time.perf_counter_ns()
        t = self.transport
        if t is None or t.is_closing():
            self.busy = False
            return
        if now < due:  # libuv rounds timers to whole ms and may fire early: never send early
            loop = asyncio.get_running_loop()
            loop.call_later((due - now) / 1e9, self._emit, stats, idx, events, tail, k, due)
            return
        stats.lag_ns.append(now - due)
        if k == 0:
            stats.first_token_ns[idx] = now
        t.write(events[k])
        if k + 1 < len(events):
            nxt = due + self.srv.itl_ns
            delay = max(0.0, (nxt - time.perf_counter_ns()) / 1e9)
            asyncio.get_running_loop().call_later(delay, self._emit, stats, idx, events, tail, k + 1, nxt)
            return
        t.write(tail)
        stats.end_ns[idx] = time.perf_counter_ns()
        self.busy = False
        if self.buf:
            self._next()


class FakeServer:
    """Holds the config, pre-encoded events and the stats the connections append to."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.ttft_ns = int(cfg.ttft_ms * 1e6)
        self.itl_ns = int(cfg.itl_ms * 1e6)
        self.text_events = _token_events(cfg, chat=False)
        self.chat_events = _token_events(cfg, chat=True)
        models = {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fake"}]}
        self.models_body = json.dumps(models).encode()
        self.stats = Stats()

    async def serve(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Conn(self), host, port, backlog=4096, reuse_address=True)
        watch = asyncio.ensure_future(self.watch())
        async with server:
            await server.serve_forever()
        watch.cancel()

    async def watch(self) -> None:
        """Record every stretch in which the loop woke more than STALL_NS past a 1 ms timer."""
        while True:
            due = time.perf_counter_ns() + WATCH_NS
            await asyncio.sleep(WATCH_NS / 1e9)
            woke = time.perf_counter_ns()
            if woke - due > STALL_NS:
                self.stats.stalls.append((due, woke))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8711)
    ap.add_argument("--tokens", type=int, default=ServerConfig.tokens)
    ap.add_argument("--ttft-ms", type=float, default=ServerConfig.ttft_ms)
    ap.add_argument("--itl-ms", type=float, default=ServerConfig.itl_ms)
    args = ap.parse_args()
    if args.tokens < 1:
        ap.error("--tokens must be >= 1")
    server = FakeServer(ServerConfig(args.tokens, args.ttft_ms, args.itl_ms))
    try:
        import uvloop
    except ImportError:
        asyncio.run(server.serve(args.host, args.port))
    else:
        uvloop.run(server.serve(args.host, args.port))


if __name__ == "__main__":
    main()
