"""Streaming client for text-generation-inference's native ``/generate_stream``.

TGI sends one SSE event per generated token, ``data:{"index":1,"token":{"id":..,"text":"..",
"logprob":..,"special":false},"generated_text":null,"details":null}``, and no ``[DONE]``: the last
token's event carries ``generated_text`` (and ``details`` with ``finish_reason``,
``generated_tokens``, ``seed`` when ``parameters.details`` is true). A failure mid-stream is an
event ``data:{"error":"..","error_type":".."}``. Same contract as
:func:`workloads.clients.openai.stream_openai`: returns a RequestRecord, never raises (except
``asyncio.CancelledError``), error kinds from :data:`workloads.records.ERROR_KINDS`.
Every event that carries a ``token`` is a token event; output tokens = ``details.generated_tokens``,
else the number of non-special token events (TGI sends exactly one token per event).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workloads.clients.session import HTTPSession
from workloads.clients.sse import SSEEvent
from workloads.clients.streaming import ERROR_HEAD_CHARS, StreamFailure, error_head, stream_request
from workloads.records import UNKNOWN_TOKENS, RequestRecord


def _failure(kind: str, message: str) -> StreamFailure:
    """TGI failure messages are cut to :data:`ERROR_HEAD_CHARS` as a whole."""
    return StreamFailure(kind, message[:ERROR_HEAD_CHARS])


def tgi_body(payload: dict[str, Any]) -> dict[str, Any]:
    """A TGI ``/generate`` body from an OpenAI-style completions payload (TGI bodies pass through).

    ``max_tokens`` → ``max_new_tokens``; temperature 0 → greedy (TGI refuses temperature 0);
    ``details`` is always requested so the server reports ``generated_tokens``.
    """
    if "inputs" in payload:
        given: dict[str, Any] = {"details": True, **(payload.get("parameters") or {})}
        return {**payload, "parameters": given}
    params: dict[str, Any] = {"details": True, "do_sample": False}
    if payload.get("max_tokens") is not None:
        params["max_new_tokens"] = payload["max_tokens"]
    temperature = payload.get("temperature")
    if temperature:
        params.update(do_sample=True, temperature=temperature)
    for key in ("top_p", "top_k", "seed", "stop", "repetition_penalty"):
        if payload.get(key) is not None:
            params[key] = payload[key]
    prompt = payload.get("prompt")
    if prompt is None and payload.get("messages"):
        prompt = "\n".join(str(m.get("content", "")) for m in payload["messages"])
    return {"inputs": prompt or "", "parameters": params}


@dataclass
class _TGIAccumulator:
    token_times_ns: list[int] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    normal_tokens: int = 0
    generated_tokens: int | None = None
    last_event_ns: int | None = None
    done: bool = False

    def on_event(self, event: SSEEvent, now_ns: int) -> None:
        self.last_event_ns = now_ns
        try:
            obj = json.loads(event.data)
        except ValueError as exc:
            raise _failure("protocol", f"bad JSON in SSE data ({exc}): {event.data[:100]!r}") from None
        if not isinstance(obj, dict):
            raise _failure("protocol", f"SSE data is not a JSON object: {event.data[:100]!r}")
        if obj.get("error") is not None:
            raise _failure("http", f"error event ({obj.get('error_type', '?')}): {obj['error']}")
        token = obj.get("token")
        if token is not None:
            if not isinstance(token, dict) or not isinstance(token.get("text", ""), str):
                raise _failure("protocol", f"malformed token: {str(token)[:100]}")
            self.token_times_ns.append(now_ns)
            if not token.get("special", False):
                self.normal_tokens += 1
                self.parts.append(token.get("text", ""))
        details = obj.get("details")
        if isinstance(details, dict) and isinstance(details.get("generated_tokens"), int):
            self.generated_tokens = details["generated_tokens"]
        if obj.get("generated_text") is not None or details is not None:
            self.done = True

    def text(self) -> str:
        return "".join(self.parts)

    def reasoning_text(self) -> str:
        return ""

    def details(self) -> dict[str, int]:
        return {"first_answer_ns": self.token_times_ns[0]} if self.token_times_ns else {}

    def output_tokens(self) -> int | None:
        return self.generated_tokens if self.generated_tokens is not None else self.normal_tokens

    def input_tokens(self) -> int | None:
        return None  # TGI's stream does not report the prompt length


def _error_head(status: int, head: bytes) -> str:
    """TGI's JSON error as ``HTTP <status>: <error_type>: <error>``; any other body as it is."""
    try:
        obj = json.loads(head.decode("utf-8", errors="replace"))
    except ValueError:
        return error_head(status, head)
    if isinstance(obj, dict) and "error" in obj:
        return error_head(status, f"{obj.get('error_type', '?')}: {obj['error']}".encode())
    return error_head(status, head)


async def stream_tgi(
    session: HTTPSession,
    url: str,
    payload: dict[str, Any],
    *,
    request_id: int,
    scheduled_ns: int,
    timeout_s: float,
    count_tokens: Callable[[str], int] | None = None,
    warmup: bool = False,
    clock: Callable[[], int] = time.perf_counter_ns,
    input_tokens: int = UNKNOWN_TOKENS,
) -> RequestRecord:
    """POST one request to ``url`` (``.../generate_stream``) and record it; never raises.

    Errors: "connect", "http" (non-200 or an error event), "timeout", "truncated" (closed before
    the final event), "protocol" (malformed data). ``count_tokens`` is unused: TGI's stream
    identifies every token.
    """
    return await stream_request(
        session,
        url,
        tgi_body(payload),
        _TGIAccumulator(),
        request_id=request_id,
        scheduled_ns=scheduled_ns,
        timeout_s=timeout_s,
        count_tokens=count_tokens,
        warmup=warmup,
        clock=clock,
        input_tokens=input_tokens,
        end_marker="the final event (generated_text)",
        describe_error=_error_head,
    )
