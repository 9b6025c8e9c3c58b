"""The client's HTTP session and event loop, shared by every sender.

``open_session`` makes the one ``aiohttp`` session of a run (connections sized to the load, no
session-level timeout: each request's overall timeout is enforced by the client). It installs a
trace that stamps a request's ``sent_ns`` when its headers have been written to the socket, so the
time aiohttp spends preparing a request (JSON, pool, headers: ~0.3 ms on a small machine) counts as
send delay, not as TTFT. ``run_sync`` runs a coroutine on uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")


class SendStamp:
    """Per-request trace context: ``sent_ns`` once the request's headers are on the wire."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.sent_ns: int | None = None


async def _on_headers_sent(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    stamp = ctx.trace_request_ctx
    if isinstance(stamp, SendStamp) and stamp.sent_ns is None:
        stamp.sent_ns = stamp.clock()


def send_stamp_trace() -> aiohttp.TraceConfig:
    """A trace config filling a request's :class:`SendStamp` (pass it as ``trace_request_ctx``)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_headers_sent)
    return trace


def open_session(max_in_flight: int) -> aiohttp.ClientSession:
    """One session allowing ``max_in_flight`` connections, stamping sends (see module doc)."""
    limit = max(1, max_in_flight)
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[send_stamp_trace()])


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
