"""Open-loop sender: requests leave at their scheduled times, never held back by responses.

One HTTP session for the run (:func:`workloads.clients.session.open_session`); it
allows as many connections as there are requests (every one may be in flight at once in an open
loop), so the pool never queues a send.
The sender sleeps until just before a request's time, then yields to the event loop until the
time is reached, and starts the request as its own task. ``scheduled_ns`` is the planned time and
``sent_ns`` (taken by the client) the actual one; their difference is the send delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from workloads.arrivals import scheduled_ns
from workloads.clients.openai import CLIENTS, endpoint_url
from workloads.clients.session import HTTPSession, open_session, run_sync
from workloads.constraints import Constraints, StopTracker
from workloads.records import UNKNOWN_TOKENS, RequestRecord

SPIN_NS = 1_000_000
"""Below this much time to a send, yield to the loop instead of sleeping (timer granularity)."""


async def wait_until(target_ns: int, clock: Callable[[], int], spin_ns: int = SPIN_NS) -> None:
    """Sleep until ``spin_ns`` before ``target_ns``, then yield to the loop until it is reached."""
    while (left := target_ns - clock()) > 0:
        await asyncio.sleep((left - spin_ns) / 1e9 if left > spin_ns else 0)


async def run_open_loop(
    url: str,
    payloads: Sequence[dict[str, Any]],
    offsets_s: Sequence[float],
    *,
    timeout_s: float,
    api: str = "completions",
    count_tokens: Callable[[str], int] | None = None,
    warmup: int = 0,
    clock: Callable[[], int] = time.perf_counter_ns,
    input_tokens: Sequence[int] | None = None,
    constraints: Constraints | None = None,
    tracker: StopTracker | None = None,
    session: HTTPSession | None = None,
    spin_ns: int = SPIN_NS,
) -> list[RequestRecord]:
    """Send ``payloads[i]`` at ``start + offsets_s[i]`` until the list or a constraint runs out.

    The first ``warmup`` payloads are marked warmup. Requests already in flight when a constraint
    stops sending are awaited (each is bounded by ``timeout_s``). Pass ``tracker`` to read the stop
    reason afterwards; pass ``session`` to reuse one across runs (else one is made, sized to the
    payload count). Records come back in send order.
    """
    if len(offsets_s) != len(payloads):
        raise ValueError(f"{len(offsets_s)} send offsets for {len(payloads)} payloads")
    if input_tokens is not None and len(input_tokens) != len(payloads):
        raise ValueError(f"input_tokens has {len(input_tokens)} entries for {len(payloads)} payloads")
    if any(b < a for a, b in pairwise(offsets_s)):
        raise ValueError("send offsets must be non-decreasing")
    tracker = tracker or StopTracker(constraints or Constraints())
    endpoint = endpoint_url(url, api)
    request = CLIENTS[api]
    tasks: list[asyncio.Task[RequestRecord]] = []

    def finished(task: asyncio.Task[RequestRecord]) -> None:
        if not task.cancelled() and task.exception() is None:
            tracker.on_record(task.result())

    async def send_all(session: HTTPSession) -> list[RequestRecord]:
        start_ns = clock()
        for i, payload in enumerate(payloads):
            target = scheduled_ns(start_ns, offsets_s[i])
            deadline = tracker.deadline_ns()
            if deadline is not None and target > deadline:
                tracker.reason = "duration"
                break
            await wait_until(target, clock, spin_ns)
            if tracker.stop_reason(clock()):
                break
            tracker.on_send(clock())
            task = asyncio.create_task(
                request(
                    session,
                    endpoint,
                    payload,
                    request_id=i,
                    scheduled_ns=target,
                    timeout_s=timeout_s,
                    count_tokens=count_tokens,
                    warmup=i < warmup,
                    clock=clock,
                    input_tokens=UNKNOWN_TOKENS if input_tokens is None else input_tokens[i],
                )
            )
            task.add_done_callback(finished)
            tasks.append(task)
        return list(await asyncio.gather(*tasks))

    if session is not None:
        return await send_all(session)
    async with open_session(len(payloads)) as own:
        return await send_all(own)


def run_open_loop_sync(*args: Any, loop: str = "uvloop", **kwargs: Any) -> list[RequestRecord]:
    """Blocking wrapper around :func:`run_open_loop` (its own event loop, uvloop when installed)."""
    return run_sync(run_open_loop(*args, **kwargs), loop)
