"""STAND-IN open-loop constant-rate sender for the peer benchmark (swap for workloads' real one).

TODO(swap): when ``workloads`` ships its constant-rate strategy, call it from
``client_vs_peers.py`` instead of :func:`run_constant_rate`; keep the same precise wait (below).

Sends ``payloads[i]`` at ``t0 + i / rate`` with :func:`workloads.clients.openai.stream_openai`, all on
one aiohttp session with no connection limit. Event-loop timers wake up to ~1 ms late (epoll and
libuv count timeouts in whole milliseconds), so :func:`wait_until` sleeps on a timer only until
``spin_ns`` before the deadline and then yields to the loop (``asyncio.sleep(0)``, which keeps
serving other requests' I/O) until the deadline passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from workloads.clients.openai import stream_openai
from workloads.records import RequestRecord

DEFAULT_SPIN_NS = 1_500_000
START_LEAD_NS = 50_000_000


async def wait_until(deadline_ns: int, spin_ns: int, clock: Callable[[], int] = time.perf_counter_ns) -> None:
    """Return at ``deadline_ns`` (not before): timer sleep, then a yielding spin for the last ``spin_ns``."""
    left = deadline_ns - clock()
    if left > spin_ns:
        await asyncio.sleep((left - spin_ns) / 1e9)
    while clock() < deadline_ns:
        await asyncio.sleep(0)


async def run_constant_rate(
    url: str,
    payloads: Sequence[dict[str, Any]],
    *,
    rate: float,
    timeout_s: float,
    spin_ns: int = DEFAULT_SPIN_NS,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> list[RequestRecord]:
    """Open loop: request ``i`` is scheduled at ``t0 + i / rate``; returns records in payload order."""
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    no_timeout = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=no_timeout) as session:
        t0 = clock() + START_LEAD_NS
        tasks = []
        for i, payload in enumerate(payloads):
            scheduled = t0 + int(i * 1e9 / rate)
            await wait_until(scheduled, spin_ns, clock)
            tasks.append(
                asyncio.create_task(
                    stream_openai(
                        session, url, payload, request_id=i, scheduled_ns=scheduled, timeout_s=timeout_s
                    )
                )
            )
        return list(await asyncio.gather(*tasks))


def run_constant_rate_sync(
    url: str,
    payloads: Sequence[dict[str, Any]],
    *,
    rate: float,
    timeout_s: float,
    spin_ns: int = DEFAULT_SPIN_NS,
    use_uvloop: bool = True,
) -> list[RequestRecord]:
    """Blocking wrapper; runs on uvloop when installed and ``use_uvloop``."""
    coro = run_constant_rate(url, payloads, rate=rate, timeout_s=timeout_s, spin_ns=spin_ns)
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(coro)
        return uvloop.run(coro)
    return asyncio.run(coro)
