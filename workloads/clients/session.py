"""The client's HTTP session and event loop, shared by every sender.

``open_session`` makes the one :class:`HTTPSession` of a run: keep-alive HTTP/1.1 connections on
asyncio protocols, at most ``max_in_flight`` requests at once, no per-request client objects. Its
timing is taken where the bytes move, not where a coroutine wakes up: ``sent_ns`` is read right
before the request is written to the socket, and every body piece is stamped when the event loop
delivers it (``data_received``), then parsed and handed to the caller's sink on the loop's next
pass, without waking a coroutine. ``run_sync`` runs a coroutine on uvloop when it is installed.

ACKs: the client re-arms ``TCP_QUICKACK`` (Linux) after every read, so it ACKs each piece of a
response at once. Otherwise, on a reused keep-alive connection the kernel leaves quick-ACK mode and
delays ACKs (up to ~40 ms), and a server with Nagle on (TGI 3.3.7: axum 0.7.9 ``serve`` sets no
``TCP_NODELAY``) holds every small SSE event until the previous one is ACKed: TTFT +~40 ms and the
rest of the stream in one burst (ITL ~0), measured on our client, not on the engine.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

from workloads.clients.http1 import HTTPProtocolError, ResponseParser

T = TypeVar("T")
DRAIN_S = 1.0  # after the caller has what it needs, how long to wait for the response's end
TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only; not sticky: re-armed per read


class ConnectError(Exception):
    """No connection to the server (refused, unreachable, bad address)."""


class Disconnected(Exception):
    """The connection closed before the response was complete; ``responded``: a head had arrived."""

    def __init__(self, message: str, responded: bool) -> None:
        super().__init__(message)
        self.responded = responded


class BodySink(Protocol):
    """Receives one response, inside the event loop's read callback."""

    def on_head(self, status: int, headers: Mapping[str, str]) -> None: ...

    def on_body(self, piece: bytes, now_ns: int) -> bool:
        """Take a body piece stamped ``now_ns``; True when the caller needs no more of it."""
        ...


class SendStamp:
    """``sent_ns`` of one request: when its bytes were written to the socket (None: never sent)."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.sent_ns: int | None = None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    def head(self, content_length: int) -> bytes:
        default = 443 if self.scheme == "https" else 80
        host = self.host if self.port == default else f"{self.host}:{self.port}"
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: llm-orchestrator\r\n"
            f"Accept: */*\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
        ).encode("latin-1")


@cache
def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time."""

    def __init__(self) -> None:
        self.clock: Callable[[], int] = time.perf_counter_ns
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._quickack: Any = None  # the TCP socket whose TCP_QUICKACK is re-armed after each read
        self._parser: ResponseParser | None = None
        self._sink: BodySink | None = None
        self._stopped = False
        self._got_bytes = False
        self._inbox: list[tuple[int, bytes]] = []
        self.answered: asyncio.Future[None] | None = None  # the sink has enough, or it failed
        self.finished: asyncio.Future[bool] | None = None  # response over: True when complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._quickack = sock if TCP_QUICKACK is not None else None
            self._ack_now()

    def _ack_now(self) -> None:
        """ACK what was read at once (see the module doc); off for good if the socket refuses."""
        try:
            self._quickack.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        except (OSError, AttributeError, ValueError):
            self._quickack = None

    def send(self, data: bytes, sink: BodySink, clock: Callable[[], int]) -> int:
        """Write a request; returns ``clock()`` read right before the write (the server cannot
        have it earlier, so no error of the client's makes a TTFT shorter than the server's)."""
        assert self.transport is not None
        self.clock = clock
        loop = asyncio.get_running_loop()
        self._parser, self._sink, self._stopped, self._got_bytes = ResponseParser(), sink, False, False
        self.answered, self.finished = loop.create_future(), loop.create_future()
        sent = clock()
        self.transport.write(data)
        return sent

    def data_received(self, data: bytes) -> None:
        # Stamp now, parse on the loop's next pass: bytes delivered in one pass are all stamped
        # when they arrived, not each after the parsing of those before it.
        now = self.clock()
        if self._quickack is not None:
            self._ack_now()
        if not self._inbox:
            asyncio.get_running_loop().call_soon(self._process)
        self._inbox.append((now, data))

    def _process(self) -> None:
        inbox, self._inbox = self._inbox, []
        for now, data in inbox:
            self._handle(now, data)

    def _handle(self, now: int, data: bytes) -> None:
        parser, sink = self._parser, self._sink
        if parser is None or sink is None:  # bytes with no request outstanding
            self.close()
            return
        self._got_bytes = True
        try:
            had_head = parser.status is not None
            pieces = parser.feed(data)
            if parser.status is not None and not had_head:
                sink.on_head(parser.status, parser.headers)
            for piece in pieces:
                if not self._stopped and sink.on_body(piece, now):
                    self._stopped = True
        except Exception as exc:  # a malformed response, or the sink rejected the data
            self._fail(exc)
            return
        if parser.complete:
            self._end(True)
        elif self._stopped:
            _resolve(self.answered, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._process()
        self.closed = True
        parser = self._parser
        if parser is None or parser.complete:
            return
        try:
            parser.eof()
        except HTTPProtocolError as err:
            self._fail(Disconnected(f"{err}{f' ({exc})' if exc else ''}", responded=self._got_bytes))
            return
        self._end(True)

    def _end(self, complete: bool) -> None:
        self._sink = None
        _resolve(self.answered, None)
        _resolve(self.finished, complete)

    def _fail(self, exc: Exception) -> None:
        if self.answered is not None and not self.answered.done():
            self.answered.set_exception(exc)
        self._sink = None
        _resolve(self.finished, False)
        self.close()

    def reusable(self) -> bool:
        parser = self._parser
        return not self.closed and parser is not None and parser.complete and parser.keep_alive

    def close(self) -> None:
        self._sink = None
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


def _resolve(fut: asyncio.Future[Any] | None, value: Any) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)


class HTTPSession:
    """Keep-alive connections per host, at most ``limit`` requests in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._slots = asyncio.Semaphore(self.limit)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def post(self, url: str, body: bytes, sink: BodySink, stamp: SendStamp) -> None:
        """POST ``body`` (JSON) and feed the response to ``sink`` until it has enough or the
        response ends. Raises ConnectError, Disconnected, HTTPProtocolError or the sink's error."""
        target = parse_target(url)
        async with self._slots:
            conn = await self._connection(target)
            reuse = False
            try:
                stamp.sent_ns = conn.send(target.head(len(body)) + body, sink, stamp.clock)
                assert conn.answered is not None and conn.finished is not None
                await conn.answered
                if not conn.finished.done():  # the caller is done; let the response end cleanly
                    await asyncio.wait({conn.finished}, timeout=DRAIN_S)
                reuse = conn.reusable()
            finally:
                if reuse:
                    self._idle.setdefault(_key(target), []).append(conn)
                else:
                    conn.close()
                    self._open.discard(conn)

    async def _connection(self, target: Target) -> _Connection:
        idle = self._idle.get(_key(target), [])
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
            self._open.discard(conn)
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if target.scheme == "https" else None
        try:
            _, conn = await loop.create_connection(_Connection, target.host, target.port, ssl=context)
        except OSError as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from None
        self._open.add(conn)
        return conn

    async def close(self) -> None:
        for conn in self._open:
            conn.close()
        self._open.clear()
        self._idle.clear()

    async def __aenter__(self) -> HTTPSession:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def _key(target: Target) -> tuple[str, str, int]:
    return (target.scheme, target.host, target.port)


def open_session(max_in_flight: int) -> HTTPSession:
    """The one session of a run: ``max_in_flight`` requests at once (see module doc)."""
    return HTTPSession(max_in_flight)


def run_sync(coro: Coroutine[Any, Any, T], loop: str = "uvloop") -> T:
    """Run ``coro`` to completion on uvloop (when installed and asked for), else asyncio's loop."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)
