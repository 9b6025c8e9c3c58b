"""Request lifecycle shared by the streaming clients: POST, read SSE, map failures, build the record.

A client supplies the body and an :class:`Accumulator` that folds its SSE events (OpenAI chunks,
TGI token events); :func:`stream_request` does the rest and returns a
:class:`~workloads.records.RequestRecord` whatever happens. Only ``asyncio.CancelledError``
propagates. ``sent_ns`` is when the request's headers were written (the trace of
:func:`workloads.clients.session.open_session`; with another session, right before the call); each
event is stamped with the arrival time of its chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from workloads.clients.session import SendStamp
from workloads.clients.sse import SSEEvent, SSEParser
from workloads.records import UNKNOWN_TOKENS, RequestRecord

ERROR_HEAD_CHARS = 200
_ERROR_READ_BYTES = 2048


class StreamFailure(Exception):
    """Stops a request with an error kind (:data:`~workloads.records.ERROR_KINDS`) and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Accumulator(Protocol):
    """Folds the SSE events of one response; ``on_event`` raises :class:`StreamFailure` on bad data."""

    token_times_ns: list[int]
    last_event_ns: int | None
    done: bool

    def on_event(self, event: SSEEvent, now_ns: int) -> None: ...

    def text(self) -> str:
        """The generated text so far."""
        ...

    def output_tokens(self) -> int | None:
        """Output tokens reported by the stream, None when it reported none."""
        ...

    def input_tokens(self) -> int | None:
        """Prompt tokens reported by the stream, None when it reported none."""
        ...


async def read_error_head(resp: aiohttp.ClientResponse) -> str:
    """``HTTP <status>: <first 200 characters of the body>`` for a non-200 response."""
    head = b""
    while len(head) < _ERROR_READ_BYTES:
        chunk = await resp.content.read(_ERROR_READ_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    text = head.decode("utf-8", errors="replace")[:ERROR_HEAD_CHARS]
    return f"HTTP {resp.status}: {text}"


async def _read_stream(
    resp: aiohttp.ClientResponse, acc: Accumulator, clock: Callable[[], int], end_marker: str
) -> None:
    parser = SSEParser()
    async for chunk in resp.content.iter_any():
        now = clock()
        for event in parser.feed(chunk):
            acc.on_event(event, now)
            if acc.done:
                return
    for event in parser.close():
        acc.on_event(event, clock())
        if acc.done:
            return
    detail = " (inside an event)" if parser.truncated else ""
    raise StreamFailure("truncated", f"stream closed before {end_marker}{detail}")


async def stream_request(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    acc: Accumulator,
    *,
    request_id: int,
    scheduled_ns: int,
    timeout_s: float,
    count_tokens: Callable[[str], int] | None,
    warmup: bool,
    clock: Callable[[], int],
    input_tokens: int,
    end_marker: str = "[DONE]",
    error_head: Callable[[aiohttp.ClientResponse], Awaitable[str]] = read_error_head,
) -> RequestRecord:
    """POST ``body`` as JSON to ``url``, feed the SSE stream to ``acc`` and record the request.

    ``timeout_s`` bounds the whole request (connect to the final event). Errors: "connect" (no
    connection / dropped before the response), "http" (non-200, message from ``error_head``),
    "timeout", "truncated" (stream ended or dropped before ``end_marker``), "protocol" (malformed
    data); ``acc`` may raise any kind. Output tokens: the stream's count, else ``count_tokens`` on
    the text, else -1; input tokens: the stream's count, else ``input_tokens``.
    """
    failure: StreamFailure | None = None
    responded = False
    stamp = SendStamp(clock)  # filled when the headers are written (sessions from open_session)
    before_ns = clock()
    try:
        async with (
            asyncio.timeout(timeout_s),
            session.post(url, json=body, trace_request_ctx=stamp) as resp,
        ):
            responded = True
            if resp.status != 200:
                failure = StreamFailure("http", await error_head(resp))
            else:
                await _read_stream(resp, acc, clock, end_marker)
    except StreamFailure as exc:
        failure = exc
    except TimeoutError:
        failure = StreamFailure("timeout", f"no complete response within {timeout_s:g} s")
    except aiohttp.ClientPayloadError as exc:
        failure = StreamFailure("truncated", f"payload error: {exc}"[:ERROR_HEAD_CHARS])
    except (aiohttp.ClientConnectionError, ConnectionError) as exc:
        kind = "truncated" if responded else "connect"
        failure = StreamFailure(kind, f"{type(exc).__name__}: {exc}"[:ERROR_HEAD_CHARS])
    except aiohttp.ClientError as exc:
        failure = StreamFailure("protocol", f"{type(exc).__name__}: {exc}"[:ERROR_HEAD_CHARS])
    sent_ns = stamp.sent_ns if stamp.sent_ns is not None else before_ns  # never sent: when tried
    end_ns = clock() if failure is not None or acc.last_event_ns is None else acc.last_event_ns
    text = acc.text()
    output_tokens = acc.output_tokens()
    if output_tokens is None:
        output_tokens = count_tokens(text) if count_tokens is not None else UNKNOWN_TOKENS
    prompt_tokens = acc.input_tokens()
    return RequestRecord(
        request_id=request_id,
        scheduled_ns=scheduled_ns,
        sent_ns=sent_ns,
        end_ns=end_ns,
        token_times_ns=acc.token_times_ns,
        input_tokens=prompt_tokens if prompt_tokens is not None else input_tokens,
        output_tokens=output_tokens,
        ok=failure is None,
        error_kind=None if failure is None else failure.kind,
        error=None if failure is None else failure.message,
        warmup=warmup,
        output_text=text,
    )
