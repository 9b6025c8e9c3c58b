"""Sending conversations: each session's turns one after another, sessions side by side.

A session sends turn 1 at its start, and turn k+1 once turn k's response has ended (its last
event) plus the think time, carrying the whole history (:mod:`workloads.conversations`). Sessions
start either open loop, at precomputed offsets from the arrival process (``starts_s``: the point's
``rate`` is sessions per second), or closed loop: ``concurrency`` sessions in flight, a new one as
soon as one ends (the point's ``concurrency`` counts sessions, not requests). ``scheduled_ns`` of a
turn is when it was due (its session's start, or the previous response's end + think time), so
send delay is how late the client sent it. A failed turn ends its session (its later turns are not
sent). The constraints (:class:`workloads.constraints.StopTracker`) are asked before every turn:
once one is hit no session sends another turn. Request ids follow the plans (session i's turn k is
``id_offset`` + the turns of the sessions before i + k - 1), whatever order they were sent in.

``clock`` and ``wait_until`` are injectable, so tests drive the schedule on a scripted clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from workloads.arrivals import scheduled_ns
from workloads.clients.openai import CLIENTS, RequestFunc
from workloads.clients.session import HTTPSession, open_session, run_sync
from workloads.constraints import Constraints, StopTracker
from workloads.conversations import BodyFn, Exchange, SessionPlan
from workloads.driver import CONNECT_BACKOFF_S
from workloads.records import RequestRecord
from workloads.sender import SPIN_NS
from workloads.sender import wait_until as wait_until_clock


async def run_sessions(
    endpoint: str,
    plans: Sequence[SessionPlan],
    body: BodyFn,
    *,
    timeout_s: float,
    think_time_s: float = 0.0,
    starts_s: Sequence[float] | None = None,
    concurrency: int | None = None,
    api: str = "completions",
    count_tokens: Callable[[str], int] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
    wait_until: Callable[[int], Awaitable[None]] | None = None,
    tracker: StopTracker | None = None,
    id_offset: int = 0,
    request: RequestFunc | None = None,
) -> list[RequestRecord]:
    """Run every session (module doc); exactly one of ``starts_s`` / ``concurrency``. Records come
    back in request-id order."""
    if (starts_s is None) == (concurrency is None):
        raise ValueError("give session start offsets (open loop) or a concurrency (closed loop), not both")
    if starts_s is not None and len(starts_s) != len(plans):
        raise ValueError(f"{len(starts_s)} session starts for {len(plans)} sessions")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"workload.concurrency must be >= 1, got {concurrency}")
    send = request or CLIENTS[api]
    track = tracker or StopTracker(Constraints())
    wait = wait_until or (lambda t: wait_until_clock(t, clock, SPIN_NS))
    think_ns = round(think_time_s * 1e9)
    first_ids = [id_offset + sum(p.turns for p in plans[:i]) for i in range(len(plans))]
    records: list[RequestRecord] = []

    async def converse(http: HTTPSession, i: int, due_ns: int) -> bool:
        """Session ``i`` from its first turn, due at ``due_ns``; False when a constraint stopped it."""
        plan = plans[i]
        history: list[Exchange] = []
        expected = 0  # prompt tokens of the next turn, used when the server reports none
        for k in range(plan.turns):
            await wait(due_ns)
            if track.stop_reason(clock()):
                return False
            track.on_send(clock())
            expected += plan.user_tokens[k]
            rec = await send(
                http,
                endpoint,
                body(history, plan.users[k], plan.output_lens[k]),
                request_id=first_ids[i] + k,
                scheduled_ns=due_ns,
                timeout_s=timeout_s,
                count_tokens=count_tokens,
                clock=clock,
                input_tokens=expected,
            )
            rec.session, rec.turn = plan.index, k + 1
            records.append(rec)
            track.on_record(rec)
            if not rec.ok:
                if rec.error_kind == "connect" and track.limits.stop is not None:
                    await asyncio.sleep(CONNECT_BACKOFF_S)  # let the engine watch say it is gone
                return True
            history.append((plan.users[k], rec.output_text))
            # the reply joins the history: the next prompt is this one + the reply + the new turn
            expected = (rec.input_tokens if rec.input_tokens >= 0 else expected) + max(rec.output_tokens, 0)
            due_ns = rec.end_ns + think_ns
        return True

    async def open_loop(http: HTTPSession, offsets: Sequence[float]) -> None:
        start = clock()
        tasks: list[asyncio.Task[bool]] = []
        for i, offset in enumerate(offsets):
            due = scheduled_ns(start, offset)
            deadline = track.deadline_ns()
            if deadline is not None and due > deadline:
                track.reason = track.reason or "duration"
                break
            await wait(due)
            if track.stop_reason(clock()):
                break
            tasks.append(asyncio.create_task(converse(http, i, due)))
        await asyncio.gather(*tasks)

    async def closed_loop(http: HTTPSession, n: int) -> None:
        order: Iterator[int] = iter(range(len(plans)))

        async def worker() -> None:
            for i in order:  # shared iterator: each session is taken by exactly one worker
                if not await converse(http, i, clock()):
                    return

        async with asyncio.TaskGroup() as group:
            for _ in range(min(n, len(plans))):
                group.create_task(worker())

    async with open_session(len(plans) if concurrency is None else concurrency) as http:
        if starts_s is not None:
            await open_loop(http, starts_s)
        else:
            assert concurrency is not None
            await closed_loop(http, concurrency)
    return sorted(records, key=lambda r: r.request_id)


def run_sessions_sync(*args: Any, **kwargs: Any) -> list[RequestRecord]:
    """Blocking wrapper around :func:`run_sessions` (its own event loop, uvloop when installed)."""
    return run_sync(run_sessions(*args, **kwargs))
