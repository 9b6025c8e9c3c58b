"""Streaming client for OpenAI-compatible ``/v1/completions`` and ``/v1/chat/completions``.

A request function returns a :class:`~workloads.records.RequestRecord` whatever happens (success or
one of the error kinds in :data:`~workloads.records.ERROR_KINDS`); only ``asyncio.CancelledError``
propagates. Timing follows the metric definitions: ``sent_ns`` is taken right before the request is
written, and each SSE event that carries text is stamped with the arrival time of its chunk.
Output tokens come from the server's ``usage`` (``stream_options.include_usage``); fallback is the
given tokenizer callable on the whole text, else -1 (unknown). SSE events are never counted as tokens.

Reasoning models (chat): a delta's ``reasoning`` (vLLM 0.32's ``DeltaMessage.reasoning``, also
OpenRouter/Ollama) or ``reasoning_content`` (vLLM before the rename, DeepSeek's API, SGLang) is
reasoning text, ``content`` the answer. Both are token events (TTFT is the first of any kind);
the first of each is stamped apart. ``usage.completion_tokens_details.reasoning_tokens`` and
``usage.prompt_tokens_details.cached_tokens`` are kept where the server reports them (vLLM: with a
``--reasoning-parser``, and with ``--enable-prompt-tokens-details``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit

from workloads.clients.session import HTTPSession
from workloads.clients.sse import SSEEvent
from workloads.clients.streaming import ERROR_HEAD_CHARS, StreamFailure, stream_request
from workloads.clients.tgi import stream_tgi
from workloads.records import UNKNOWN_TOKENS, RequestRecord

API_PATHS: Mapping[str, str] = MappingProxyType(
    {"completions": "/v1/completions", "chat": "/v1/chat/completions", "tgi": "/generate_stream"}
)


class RequestFunc(Protocol):
    """Signature shared by every client in :data:`CLIENTS`."""

    async def __call__(
        self,
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
    ) -> RequestRecord: ...


def endpoint_url(base_url: str, api: str) -> str:
    """Full endpoint for ``api`` on a server; a URL already ending in ``/completions`` is kept."""
    if api not in API_PATHS:
        raise ValueError(f"workload.api={api!r} is not one of {sorted(API_PATHS)}")
    path = urlsplit(base_url).path.rstrip("/")
    if path.endswith(("/completions", "/generate_stream")):
        return base_url
    root = base_url.rstrip("/")
    return root + API_PATHS[api].removeprefix("/v1") if path.endswith("/v1") else root + API_PATHS[api]


def is_chat_url(url: str) -> bool:
    """True for a chat-completions endpoint, False for plain completions."""
    return urlsplit(url).path.rstrip("/").endswith("/chat/completions")


@dataclass
class _Accumulator:
    """Folds SSE events of one response into text, token times and usage."""

    chat: bool
    token_times_ns: list[int] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    last_event_ns: int | None = None
    first_reasoning_ns: int = -1
    first_answer_ns: int = -1
    done: bool = False

    def on_event(self, event: SSEEvent, now_ns: int) -> None:
        """Apply one event; raises :class:`StreamFailure` on an error event or malformed data."""
        self.last_event_ns = now_ns
        if event.data.strip() == "[DONE]":
            self.done = True
            return
        if event.event == "error":
            raise StreamFailure("http", f"error event: {event.data[:ERROR_HEAD_CHARS]}")
        try:
            obj = json.loads(event.data)
        except ValueError as exc:
            raise StreamFailure("protocol", f"bad JSON in SSE data ({exc}): {event.data[:100]!r}") from None
        if not isinstance(obj, dict):
            raise StreamFailure("protocol", f"SSE data is not a JSON object: {event.data[:100]!r}")
        err = obj if obj.get("object") == "error" else obj.get("error")
        if err is not None:
            raise _error_failure(err)
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        text, reasoning = _choice_text(obj, chat=self.chat)
        if text:
            self.parts.append(text)
            if self.first_answer_ns < 0:
                self.first_answer_ns = now_ns
        if reasoning:
            self.reasoning_parts.append(reasoning)
            if self.first_reasoning_ns < 0:
                self.first_reasoning_ns = now_ns
        if text or reasoning:
            self.token_times_ns.append(now_ns)

    def text(self) -> str:
        return "".join(self.parts)

    def reasoning_text(self) -> str:
        return "".join(self.reasoning_parts)

    def details(self) -> dict[str, int]:
        out = {"first_reasoning_ns": self.first_reasoning_ns, "first_answer_ns": self.first_answer_ns}
        reasoning = _detail(self.usage, "completion_tokens_details", "reasoning_tokens")
        cached = _detail(self.usage, "prompt_tokens_details", "cached_tokens")
        if reasoning is not None:
            out["reasoning_tokens"] = reasoning
        if cached is not None:
            out["cached_tokens"] = cached
        return out

    def output_tokens(self) -> int | None:
        value = self.usage.get("completion_tokens")
        return value if isinstance(value, int) else None

    def input_tokens(self) -> int | None:
        value = self.usage.get("prompt_tokens")
        return value if isinstance(value, int) else None


def _error_failure(err: Any) -> StreamFailure:
    """An ``error`` object in the stream: "http" when it carries an HTTP-like code, else "protocol"."""
    if not isinstance(err, dict):
        return StreamFailure("protocol", f"error in stream: {str(err)[:ERROR_HEAD_CHARS]}")
    code, message = err.get("code"), str(err.get("message", err))[:ERROR_HEAD_CHARS]
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        return StreamFailure("http", f"error {code} in stream: {message}")
    return StreamFailure("protocol", f"error in stream: {message}")


def _detail(usage: dict[str, Any], section: str, key: str) -> int | None:
    """``usage[section][key]`` when it is a count (vLLM sends null details when they are off)."""
    details = usage.get(section)
    value = details.get(key) if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _choice_text(obj: dict[str, Any], *, chat: bool) -> tuple[str, str]:
    """The first choice's (answer text, reasoning text); empty strings when it has none."""
    choices = obj.get("choices")
    if choices is None or choices == []:
        return "", ""
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise StreamFailure("protocol", f"malformed choices: {str(choices)[:100]}")
    choice = choices[0]
    reasoning: Any = None
    if chat:
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        value = delta.get("content")
        reasoning = delta.get("reasoning")
        if reasoning is None:
            reasoning = delta.get("reasoning_content")
    else:
        value = choice.get("text")
    for v in (value, reasoning):
        if v is not None and not isinstance(v, str):
            raise StreamFailure("protocol", f"token text is not a string: {v!r}"[:ERROR_HEAD_CHARS])
    return value or "", reasoning or ""


async def stream_openai(
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
    """POST one streaming request and record it; never raises except ``asyncio.CancelledError``.

    Chat vs completions is taken from the URL path. ``payload`` is copied and gets ``stream: True``
    and ``stream_options.include_usage``. ``timeout_s`` bounds the whole request (connect to
    [DONE]). ``input_tokens`` is the requested prompt length, used when the server sends no usage.
    Errors: "connect" (no connection / dropped before the response), "http" (non-200 status or an
    error object with a code), "timeout", "truncated" (stream ended or dropped before [DONE]),
    "protocol" (malformed SSE data).
    """
    body = {
        **payload,
        "stream": True,
        "stream_options": {**(payload.get("stream_options") or {}), "include_usage": True},
    }
    return await stream_request(
        session,
        url,
        body,
        _Accumulator(chat=is_chat_url(url)),
        request_id=request_id,
        scheduled_ns=scheduled_ns,
        timeout_s=timeout_s,
        count_tokens=count_tokens,
        warmup=warmup,
        clock=clock,
        input_tokens=input_tokens,
    )


CLIENTS: Mapping[str, RequestFunc] = MappingProxyType(
    {"completions": stream_openai, "chat": stream_openai, "tgi": stream_tgi}
)
"""Request functions by ``workload.api`` name (the endpoint path selects the payload format)."""
