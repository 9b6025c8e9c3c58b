"""Fake HTTP servers for the client and strategy tests: an aiohttp app on 127.0.0.1, an ephemeral port."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp import web


def completions_app(handle: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    """An app serving ``POST /v1/completions`` with ``handle``."""
    app = web.Application()
    app.router.add_post("/v1/completions", handle)
    return app


async def end_stream(resp: web.StreamResponse, usage: dict[str, Any]) -> web.StreamResponse:
    """Close an OpenAI-style SSE stream: the usage chunk, ``[DONE]``, the end of the body."""
    await resp.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 with an ephemeral port; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.2, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """:func:`serve` in a thread and event loop of its own (for code that blocks in its own loop,
    e.g. ``run_strategy``); yield the base URL."""
    ready: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with serve(app) as base:
            ready.append(base)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
