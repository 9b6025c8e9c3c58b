"""Closed-loop load driver: a fixed number of requests in flight, one HTTP session per run.

The driver only sends and records; metrics are computed afterwards from the records
(:mod:`workloads.metrics`), never inside the I/O loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from workloads.clients.openai import API_PATHS, CLIENTS, endpoint_url
from workloads.clients.session import HTTPSession, open_session, run_sync
from workloads.constraints import StopTracker
from workloads.datasets import Prompt
from workloads.records import UNKNOWN_TOKENS, RequestRecord

CONNECT_BACKOFF_S = 0.5
"""A worker's pause after a refused connection, when the run has a stop signal (an engine watch)."""


def build_payloads(
    model: str,
    prompts: Sequence[Prompt],
    output_len: int,
    *,
    api: str,
    ignore_eos: bool,
    temperature: float = 0.0,
) -> list[dict[str, Any]]:
    """OpenAI request bodies: ``prompt`` for completions, one user message for chat.

    ``max_tokens=output_len`` always; with ``ignore_eos`` also ``min_tokens=output_len`` so the
    server generates exactly ``output_len`` tokens (vLLM extensions ``ignore_eos``/``min_tokens``).
    A prompt's own ``output_len`` (dataset replay) takes precedence over ``output_len``.
    """
    if api not in API_PATHS:
        raise ValueError(f"workload.api={api!r} is not one of {sorted(API_PATHS)}")
    if output_len < 1:
        raise ValueError(f"workload.output_len must be >= 1, got {output_len}")
    payloads: list[dict[str, Any]] = []
    for prompt in prompts:
        n_out = prompt.output_len or output_len
        body: dict[str, Any] = {"model": model}
        if api == "chat":
            body["messages"] = [{"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = prompt.text
        body.update(max_tokens=n_out, ignore_eos=ignore_eos, temperature=temperature)
        if ignore_eos:
            body["min_tokens"] = n_out
        payloads.append(body)
    return payloads


async def run_concurrency(
    url: str,
    payloads: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    timeout_s: float,
    api: str = "completions",
    count_tokens: Callable[[str], int] | None = None,
    warmup: int = 0,
    clock: Callable[[], int] = time.perf_counter_ns,
    input_tokens: Sequence[int] | None = None,
    tracker: StopTracker | None = None,
) -> list[RequestRecord]:
    """Send every payload with exactly ``concurrency`` requests in flight until the list runs out.

    ``concurrency`` workers pull the next payload index from a shared iterator as soon as their
    previous request finishes; ``scheduled_ns`` is the moment a worker picks a request. The first
    ``warmup`` payloads are marked warmup. ``url`` is a server base URL (``/v1/...`` is appended
    per ``api``) or a full ``.../completions`` endpoint. ``input_tokens`` optionally gives each
    payload's prompt length, used when the server reports no usage. Records come back in payload
    order. With a ``tracker``, workers stop taking payloads once one of its constraints is hit
    (requests in flight finish); the unsent payloads produce no record.
    """
    if concurrency < 1:
        raise ValueError(f"workload.concurrency must be >= 1, got {concurrency}")
    if not 0 <= warmup <= len(payloads):
        raise ValueError(f"workload.warmup must be in [0, {len(payloads)}], got {warmup}")
    if input_tokens is not None and len(input_tokens) != len(payloads):
        raise ValueError(f"input_tokens has {len(input_tokens)} entries for {len(payloads)} payloads")
    endpoint = endpoint_url(url, api)
    request = CLIENTS[api]
    results: list[RequestRecord | None] = [None] * len(payloads)
    indices: Iterator[int] = iter(range(len(payloads)))

    async def worker(session: HTTPSession) -> None:
        for i in indices:  # shared iterator: each index is taken by exactly one worker
            if tracker is not None:
                if tracker.stop_reason(clock()):
                    return
                tracker.on_send(clock())
            rec = await request(
                session,
                endpoint,
                payloads[i],
                request_id=i,
                scheduled_ns=clock(),
                timeout_s=timeout_s,
                count_tokens=count_tokens,
                warmup=i < warmup,
                clock=clock,
                input_tokens=UNKNOWN_TOKENS if input_tokens is None else input_tokens[i],
            )
            results[i] = rec
            if tracker is not None:
                tracker.on_record(rec)
                if rec.error_kind == "connect" and tracker.limits.stop is not None:
                    # refused: the engine may just have died; give its watch time to say so
                    # rather than fail the rest of the list against a dead port in milliseconds
                    await asyncio.sleep(CONNECT_BACKOFF_S)

    async with open_session(concurrency) as session, asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(payloads))):
            group.create_task(worker(session))
    records = [r for r in results if r is not None]
    if len(records) != len(payloads) and not (
        tracker is not None and tracker.reason
    ):  # impossible unless a request function broke its contract
        raise RuntimeError(f"{len(payloads) - len(records)} payloads produced no record")
    return records


def run_concurrency_sync(
    url: str,
    payloads: Sequence[dict[str, Any]],
    *,
    concurrency: int,
    timeout_s: float,
    api: str = "completions",
    count_tokens: Callable[[str], int] | None = None,
    warmup: int = 0,
    clock: Callable[[], int] = time.perf_counter_ns,
    input_tokens: Sequence[int] | None = None,
    tracker: StopTracker | None = None,
) -> list[RequestRecord]:
    """Blocking wrapper around :func:`run_concurrency` (its own event loop, uvloop when installed)."""
    return run_sync(
        run_concurrency(
            url,
            payloads,
            concurrency=concurrency,
            timeout_s=timeout_s,
            api=api,
            count_tokens=count_tokens,
            warmup=warmup,
            clock=clock,
            input_tokens=input_tokens,
            tracker=tracker,
        )
    )
