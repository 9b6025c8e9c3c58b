"""Request lifecycle shared by the streaming clients: POST, read SSE, map failures, build the record.

A client supplies the body and an :class:`Accumulator` that folds its SSE events (OpenAI chunks,
TGI token events); :func:`stream_request` does the rest and returns a
:class:`~workloads.records.RequestRecord` whatever happens. Only ``asyncio.CancelledError``
propagates. ``sent_ns`` is read right before the request is written to the socket and each event
carries the time its bytes were delivered by the event loop (:mod:`workloads.clients.session`), so
the time spent parsing earlier events does not delay a token's timestamp.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from workloads.clients.http1 import HTTPProtocolError
from workloads.clients.session import ConnectError, Disconnected, HTTPSession, SendStamp
from workloads.clients.sse import SSEEvent, SSEParser
from workloads.records import UNKNOWN_TOKENS, RequestRecord

ERROR_HEAD_CHARS = 200
ERROR_READ_BYTES = 2048


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
        """The generated answer text so far (what a conversation's history carries)."""
        ...

    def reasoning_text(self) -> str:
        """The generated reasoning text so far ("" for streams without reasoning)."""
        ...

    def details(self) -> Mapping[str, int]:
        """Record fields the stream told beyond the common ones (``first_reasoning_ns``,
        ``first_answer_ns``, ``reasoning_tokens``, ``cached_tokens``): only those it knows."""
        ...

    def output_tokens(self) -> int | None:
        """Output tokens reported by the stream, None when it reported none."""
        ...

    def input_tokens(self) -> int | None:
        """Prompt tokens reported by the stream, None when it reported none."""
        ...


def error_head(status: int, head: bytes) -> str:
    """``HTTP <status>: <first 200 characters of the body>`` for a non-200 response."""
    text = head.decode("utf-8", errors="replace")[:ERROR_HEAD_CHARS]
    return f"HTTP {status}: {text}"


class _StreamSink:
    """Feeds a 200 response's SSE events to the accumulator; keeps the head of any other body."""

    def __init__(self, acc: Accumulator) -> None:
        self.acc = acc
        self.parser = SSEParser()
        self.status: int | None = None
        self.head = b""

    def on_head(self, status: int, _headers: Mapping[str, str]) -> None:
        self.status = status

    def on_body(self, piece: bytes, now_ns: int) -> bool:
        if self.status != 200:
            self.head += piece
            return len(self.head) >= ERROR_READ_BYTES
        for event in self.parser.feed(piece):
            self.acc.on_event(event, now_ns)
            if self.acc.done:
                return True
        return False

    def finish(self, now_ns: int, end_marker: str) -> None:
        """The response ended without the accumulator's end: flush, else it was truncated."""
        for event in self.parser.close():
            self.acc.on_event(event, now_ns)
            if self.acc.done:
                return
        detail = " (inside an event)" if self.parser.truncated else ""
        raise StreamFailure("truncated", f"stream closed before {end_marker}{detail}")


async def stream_request(
    session: HTTPSession,
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
    describe_error: Callable[[int, bytes], str] = error_head,
) -> RequestRecord:
    """POST ``body`` as JSON to ``url``, feed the SSE stream to ``acc`` and record the request.

    ``timeout_s`` bounds the whole request (connect to the final event). Errors: "connect" (no
    connection / dropped before the response), "http" (non-200, message from ``describe_error``),
    "timeout", "truncated" (stream ended or dropped before ``end_marker``), "protocol" (malformed
    data); ``acc`` may raise any kind. Output tokens: the stream's count, else ``count_tokens`` on
    the text (answer and reasoning), else -1; input tokens: the stream's count, else ``input_tokens``.
    """
    failure: StreamFailure | None = None
    stamp = SendStamp(clock)
    before_ns = clock()
    sink = _StreamSink(acc)
    try:
        data = json.dumps(body).encode()
        async with asyncio.timeout(timeout_s):
            await session.post(url, data, sink, stamp)
        if sink.status != 200:
            failure = StreamFailure("http", describe_error(sink.status or 0, sink.head))
        elif not acc.done:
            sink.finish(clock(), end_marker)
    except StreamFailure as exc:
        failure = exc
    except TimeoutError:
        failure = StreamFailure("timeout", f"no complete response within {timeout_s:g} s")
    except ConnectError as exc:
        failure = StreamFailure("connect", str(exc)[:ERROR_HEAD_CHARS])
    except Disconnected as exc:
        kind = "truncated" if exc.responded else "connect"
        failure = StreamFailure(kind, f"connection closed: {exc}"[:ERROR_HEAD_CHARS])
    except HTTPProtocolError as exc:
        failure = StreamFailure("protocol", f"{type(exc).__name__}: {exc}"[:ERROR_HEAD_CHARS])
    sent_ns = stamp.sent_ns if stamp.sent_ns is not None else before_ns  # never sent: when tried
    end_ns = clock() if failure is not None or acc.last_event_ns is None else acc.last_event_ns
    text = acc.text()
    output_tokens = acc.output_tokens()
    if output_tokens is None:
        reasoning = acc.reasoning_text()
        output_tokens = (
            count_tokens(text) + (count_tokens(reasoning) if reasoning else 0)
            if count_tokens is not None
            else UNKNOWN_TOKENS
        )
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
        **acc.details(),
    )
