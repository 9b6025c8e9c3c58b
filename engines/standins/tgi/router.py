"""``text-generation-router`` stand-in: TGI v3.3.7 ``router/src/server.rs``, ``backends/v3`` (__init__.py).

Startup as the real router: tokenizer from ``--tokenizer-name`` (``tokenizer.json``, the tokenizers
library the Rust router uses, special tokens added), connect to the master shard over its unix
socket, service discovery → every shard, warmup (max_input_tokens / max_total_tokens defaults:
``min(model_max_length, max_position_embeddings)`` and that − 1), the v3 argument checks, then the
prometheus listener is built on ``hostname:prometheus_port`` (3.3.0+; bound and dropped at once, as
``let (recorder, _) = builder.build()`` does — taken → panic, exit 101) and the HTTP listener on
``hostname:port`` (a hostname that is not an IP literal → 0.0.0.0, as ``hostname.parse()`` fails).

HTTP (hand-written HTTP/1.1, keep-alive): ``GET /health`` (``/``, ``/ping``), ``GET /info``,
``GET /metrics``, ``POST /generate``, ``POST /generate_stream``, ``POST /`` (compat, ``stream``).
Bodies are deserialized as serde would (unknown fields ignored: no ``deny_unknown_fields``; type
errors → 422 text/plain from axum's Json extractor), validated as ``validation.rs`` (422 JSON on
/generate; on /generate_stream the stream is already open, so 200 and an SSE error event).
Continuous batching: one decode step every ``TGI_STANDIN_TOKEN_MS`` for the whole running batch,
admission bounded by max_batch_total_tokens / max_batch_size / max_batch_prefill_tokens, every step
a round trip to every shard (a dead shard fails the batch: error_type ``generation``).
Nagle stays on for HTTP connections, as axum 0.7.9's ``serve`` leaves it (``TGI_STANDIN_TCP_NODELAY=1``
turns it off): after the first request on a keep-alive connection, SSE events can be coalesced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

DEFAULT_GENERATION_LENGTH = 1024


def standin_version() -> str:
    return os.environ.get("TGI_STANDIN_VERSION", "3.3.7")


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("-")[0].split("."))


def rlog(level: str, message: str) -> None:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1000000:06d}Z"
    sys.stdout.write(f"{ts} {level:>5} text_generation_router::server: router/src/server.rs: {message}\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- metrics (metrics-exporter-prometheus)


def _duration_buckets() -> list[float]:
    out, value = [], 0.0001
    for _ in range(35):
        value *= 1.5
        out.append(value)
    return out


class Metrics:
    def __init__(self, max_input: int, max_total: int) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.hists: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        self.buckets: dict[str, list[float]] = {
            "tgi_request_input_length": [max_input / 100.0 * (x + 1) for x in range(100)],
            "tgi_request_generated_tokens": [max_total / 100.0 * (x + 1) for x in range(100)],
            "tgi_request_max_new_tokens": [max_total / 100.0 * (x + 1) for x in range(100)],
            "tgi_batch_next_size": [float(x + 1) for x in range(1024)],
        }
        self.help = {
            "tgi_request_success": "Number of successful requests",
            "tgi_queue_size": "Current queue size",
        }

    def counter(self, name: str, value: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0) + value

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def histogram(self, name: str, value: float, **labels: str) -> None:
        self.hists.setdefault((name, tuple(sorted(labels.items()))), []).append(value)

    def _bounds(self, name: str) -> list[float]:
        if name.endswith("duration"):
            return _duration_buckets()
        return self.buckets.get(name, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])

    def render(self) -> str:
        out: list[str] = []

        def labels(items: tuple[tuple[str, str], ...], extra: str = "") -> str:
            parts = [f'{k}="{v}"' for k, v in items] + ([extra] if extra else [])
            return "{" + ",".join(parts) + "}" if parts else ""

        for kind, table in (("counter", self.counters), ("gauge", self.gauges)):
            for name in sorted({k[0] for k in table}):
                if name in self.help:
                    out.append(f"# HELP {name} {self.help[name]}")
                out.append(f"# TYPE {name} {kind}")
                for (n, items), value in sorted(table.items()):
                    if n == name:
                        out.append(f"{name}{labels(items)} {_num(value)}")
                out.append("")
        for name in sorted({k[0] for k in self.hists}):
            out.append(f"# TYPE {name} histogram")
            for (n, items), values in sorted(self.hists.items()):
                if n != name:
                    continue
                for bound in self._bounds(name):
                    count = sum(1 for v in values if v <= bound)
                    le = labels(items, 'le="' + _num(bound) + '"')
                    out.append(f"{name}_bucket{le} {count}")
                le = labels(items, 'le="+Inf"')
                out.append(f"{name}_bucket{le} {len(values)}")
                out.append(f"{name}_sum{labels(items)} {_num(sum(values))}")
                out.append(f"{name}_count{labels(items)} {len(values)}")
            out.append("")
        return "\n".join(out) + "\n"


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


# ---------------------------------------------------------------- request parsing (serde) and validation


class DeserializeError(Exception):
    pass


class ValidationError(Exception):
    pass


PARAM_TYPES: dict[str, tuple[str, bool]] = {  # field → (serde type, Option<..>)
    "best_of": ("usize", True),
    "temperature": ("f32", True),
    "repetition_penalty": ("f32", True),
    "frequency_penalty": ("f32", True),
    "top_k": ("i32", True),
    "top_p": ("f32", True),
    "typical_p": ("f32", True),
    "do_sample": ("bool", False),
    "max_new_tokens": ("u32", True),
    "return_full_text": ("bool", True),
    "stop": ("vec_string", False),
    "truncate": ("usize", True),
    "watermark": ("bool", False),
    "details": ("bool", False),
    "decoder_input_details": ("bool", False),
    "seed": ("u64", True),
    "top_n_tokens": ("u32", True),
    "grammar": ("any", True),
    "adapter_id": ("string", True),
}
INT_RANGE = {
    "usize": (0, 2**64 - 1),
    "u64": (0, 2**64 - 1),
    "u32": (0, 2**32 - 1),
    "i32": (-(2**31), 2**31 - 1),
}


def _serde_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean `{str(v).lower()}`"
    if isinstance(v, int):
        return f"integer `{v}`"
    if isinstance(v, float):
        return f"floating point `{v}`"
    if isinstance(v, str):
        return f"string {json.dumps(v)}"
    if isinstance(v, list):
        return "sequence"
    return "map"


def _check_type(path: str, value: Any, kind: str, optional: bool) -> None:
    if value is None:
        if optional or kind == "any":
            return
        expected = {"bool": "a boolean", "vec_string": "a sequence"}.get(kind, kind)
        raise DeserializeError(f"{path}: invalid type: null, expected {expected}")
    expected = {"bool": "a boolean", "vec_string": "a sequence", "string": "a string"}.get(kind, kind)
    if kind == "any":
        return
    if kind == "bool" and not isinstance(value, bool):
        raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected {expected}")
    if kind == "string" and not isinstance(value, str):
        raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected {expected}")
    if kind == "f32" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected f32")
    if kind in INT_RANGE:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected {kind}")
        lo, hi = INT_RANGE[kind]
        if not lo <= value <= hi:
            raise DeserializeError(f"{path}: invalid value: integer `{value}`, expected {kind}")
    if kind == "vec_string":
        if not isinstance(value, list):
            raise DeserializeError(f"{path}: invalid type: {_serde_kind(value)}, expected a sequence")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise DeserializeError(f"{path}[{i}]: invalid type: {_serde_kind(item)}, expected a string")


def deserialize_request(body: Any, *, compat: bool = False) -> dict[str, Any]:
    """GenerateRequest: ``inputs`` required, ``parameters`` default, unknown fields ignored."""
    if not isinstance(body, dict):
        raise DeserializeError(f"invalid type: {_serde_kind(body)}, expected struct GenerateRequest")
    if "inputs" not in body:
        raise DeserializeError("missing field `inputs`")
    if not isinstance(body["inputs"], str):
        raise DeserializeError(f"inputs: invalid type: {_serde_kind(body['inputs'])}, expected a string")
    if "parameters" in body and body["parameters"] is not None:
        params = body["parameters"]
        if not isinstance(params, dict):
            raise DeserializeError(
                f"parameters: invalid type: {_serde_kind(params)}, expected struct GenerateParameters"
            )
        given = dict(params)
        defaults: dict[str, Any] = {"do_sample": False}
    elif "parameters" in body:
        raise DeserializeError("parameters: invalid type: null, expected struct GenerateParameters")
    else:
        given, defaults = {}, {"do_sample": True}  # default_parameters(): do_sample true
    for name, (kind, optional) in PARAM_TYPES.items():
        if name in given:
            _check_type(f"parameters.{name}", given[name], kind, optional)
    p: dict[str, Any] = dict.fromkeys(PARAM_TYPES)
    p.update(stop=[], do_sample=False, watermark=False, details=False, decoder_input_details=False)
    p.update(defaults)
    p.update({k: v for k, v in given.items() if k in PARAM_TYPES})
    out = {"inputs": body["inputs"], "parameters": p}
    if compat:
        stream = body.get("stream", False)
        _check_type("stream", stream, "bool", False)
        out["stream"] = stream
    return out


@dataclass
class Valid:
    inputs: str
    input_ids: list[int]
    input_length: int
    max_new_tokens: int
    sampling: bool
    seed: int
    stop: list[str]
    details: bool
    decoder_input_details: bool
    return_full_text: bool
    best_of: int
    top_n_tokens: int


# ---------------------------------------------------------------- the engine (continuous batching)


@dataclass
class Entry:
    valid: Valid
    queue: asyncio.Queue[dict[str, Any]]
    request_id: int
    start: float
    queued: float = 0.0
    started: float = 0.0
    generated: list[int] = field(default_factory=list)
    cancelled: bool = False

    @property
    def budget(self) -> int:
        return self.valid.input_length + self.valid.max_new_tokens


class ShardClient:
    def __init__(self, url: str) -> None:
        self.path = url.removeprefix("unix://")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lock = asyncio.Lock()

    async def call(self, method: str, **kw: Any) -> dict[str, Any]:
        async with self.lock:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_unix_connection(self.path)
            assert self.reader is not None
            self.writer.write(json.dumps({"method": method, **kw}).encode() + b"\n")
            await self.writer.drain()
            line = await self.reader.readline()
            if not line:
                self.writer = None
                raise ConnectionError(f"shard {self.path} closed the connection")
            obj: dict[str, Any] = json.loads(line)
            return obj


class Router:
    def __init__(self, args: argparse.Namespace, tokenizer: Any, eos_ids: set[int], words: list[int]) -> None:
        self.args = args
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.words = words
        self.shards: list[ShardClient] = []
        self.max_input = 0
        self.max_total = 0
        self.max_batch_total = 0
        self.metrics: Metrics | None = None
        self.queue: deque[Entry] = deque()
        self.running: list[Entry] = []
        self.wake = asyncio.Event()
        self.in_flight = 0
        self.next_id = 0
        self.token_s = float(os.environ.get("TGI_STANDIN_TOKEN_MS", "5")) / 1000.0
        eos_after = os.environ.get("TGI_STANDIN_EOS_AFTER")
        self.eos_after = int(eos_after) if eos_after else None
        self.healthy_until = 0.0

    @property
    def m(self) -> Metrics:
        assert self.metrics is not None
        return self.metrics

    # -- validation (router/src/validation.rs) --
    def validate(self, req: dict[str, Any]) -> Valid:
        p = req["parameters"]
        best_of = p["best_of"] if p["best_of"] is not None else 1
        sampling = bool(
            p["do_sample"]
            or p["temperature"] is not None
            or p["top_k"] is not None
            or p["top_p"] is not None
            or p["typical_p"] is not None
        )
        if best_of > 1 and not sampling:
            raise ValidationError("you must use sampling when `best_of` is > 1")
        if (p["temperature"] if p["temperature"] is not None else 1.0) <= 0.0:
            raise ValidationError("`temperature` must be strictly positive")
        if (p["repetition_penalty"] if p["repetition_penalty"] is not None else 1.0) <= 0.0:
            raise ValidationError("`repetition_penalty` must be strictly positive")
        fp = p["frequency_penalty"] if p["frequency_penalty"] is not None else 0.0
        if not -2.0 <= fp <= 2.0:
            raise ValidationError("`frequency_penalty` must be >= -2.0 and <= 2.0")
        if p["top_p"] is not None and not 0.0 < p["top_p"] < 1.0:
            raise ValidationError("`top_p` must be > 0.0 and < 1.0")
        if p["typical_p"] is not None and not 0.0 < p["typical_p"] < 1.0:
            raise ValidationError("`typical_p` must be > 0.0 and < 1.0")
        if p["top_k"] is not None and p["top_k"] <= 0:
            raise ValidationError("`top_k` must be strictly positive")
        if p["max_new_tokens"] == 0:
            raise ValidationError("`max_new_tokens` must be strictly positive")
        if len(p["stop"]) > self.args.max_stop_sequences:
            raise ValidationError(
                f"`stop` supports up to {self.args.max_stop_sequences} stop sequences. "
                f"Given: {len(p['stop'])}"
            )
        if p["seed"] is None:
            seed = random.getrandbits(64)
        else:
            if best_of > 1:
                raise ValidationError("`seed` must not be set when `best_of` > 1")
            seed = p["seed"]
        top_n = p["top_n_tokens"] or 0
        if top_n > self.args.max_top_n_tokens:
            raise ValidationError(
                f"`top_n_tokens` must be >= 0 and <= {self.args.max_top_n_tokens}. Given: {top_n}"
            )
        if req["inputs"] == "":
            raise ValidationError("`inputs` cannot be empty")
        truncate = p["truncate"]
        if truncate is not None and (truncate == 0 or truncate > self.max_input):
            raise ValidationError(
                f"`truncate` must be strictly positive and less than {self.max_input}. Given: {truncate}"
            )
        ids = list(self.tokenizer.encode(req["inputs"], add_special_tokens=True).ids)
        input_length = min(len(ids), truncate) if truncate is not None else len(ids)
        if p["max_new_tokens"] is not None:
            chunk = min(p["max_new_tokens"], DEFAULT_GENERATION_LENGTH)
            total_new = p["max_new_tokens"]
        else:
            total_new = max(self.max_total - input_length, 0)
            chunk = min(total_new, DEFAULT_GENERATION_LENGTH)
        if input_length + chunk > self.max_total:
            raise ValidationError(
                f"`inputs` tokens + `max_new_tokens` must be <= {self.max_total}. Given: "
                f"{input_length} `inputs` tokens and {chunk} `max_new_tokens`"
            )
        if input_length > self.max_input:
            raise ValidationError(
                f"`inputs` must have less than {self.max_input} tokens. Given: {input_length}"
            )
        if p["grammar"] is not None and self.args.disable_grammar_support:
            raise ValidationError("grammar is not supported")
        self.m.histogram("tgi_request_input_length", input_length)
        self.m.histogram("tgi_request_max_new_tokens", total_new)
        return Valid(
            inputs=req["inputs"],
            input_ids=ids[len(ids) - input_length :],
            input_length=input_length,
            max_new_tokens=total_new,
            sampling=sampling,
            seed=seed,
            stop=list(p["stop"]),
            details=bool(p["details"]),
            decoder_input_details=bool(p["decoder_input_details"]),
            return_full_text=bool(p["return_full_text"]),
            best_of=best_of,
            top_n_tokens=top_n,
        )

    def validate_best_of(self, best_of: int) -> None:
        if best_of == 0 or best_of > self.args.max_best_of:
            raise ValidationError(f"`best_of` must be > 0 and <= {self.args.max_best_of}. Given: {best_of}")

    # -- the batching loop --
    def submit(self, valid: Valid) -> Entry:
        entry = Entry(valid, asyncio.Queue(), self.next_id, time.monotonic())
        self.next_id += 1
        entry.queued = time.monotonic()
        self.queue.append(entry)
        self.m.gauge("tgi_queue_size", len(self.queue))
        self.wake.set()
        return entry

    def _admit(self) -> list[Entry]:
        used = sum(e.budget for e in self.running)
        prefill = 0
        admitted: list[Entry] = []
        max_size = self.args.max_batch_size
        while self.queue:
            e = self.queue[0]
            if e.cancelled:
                self.queue.popleft()
                continue
            if max_size is not None and len(self.running) + len(admitted) >= max_size:
                break
            if used + e.budget > self.max_batch_total:
                break
            if admitted and prefill + e.valid.input_length > self.args.max_batch_prefill_tokens:
                break
            self.queue.popleft()
            used += e.budget
            prefill += e.valid.input_length
            e.started = time.monotonic()
            admitted.append(e)
        return admitted

    async def _step_shards(self, method: str, size: int) -> None:
        await asyncio.gather(*(s.call(method, batch=size) for s in self.shards))

    def _next_token(self, e: Entry) -> tuple[int, bool]:
        n = len(e.generated) + 1
        if self.eos_after is not None and n >= self.eos_after and self.eos_ids:
            return min(self.eos_ids), True
        rng = random.Random(
            e.valid.seed * 1_000_003 + n if e.valid.sampling else hash(tuple(e.valid.input_ids)) + n
        )
        return self.words[rng.randrange(len(self.words))], False

    def _text(self, token_id: int) -> str:
        piece = self.tokenizer.id_to_token(token_id) or ""
        return piece.replace("\u2581", " ")

    async def loop(self) -> None:
        while True:
            if not self.running and not self.queue:
                self.wake.clear()
                await self.wake.wait()
            admitted = self._admit()
            method = "prefill" if admitted else "decode"
            batch = self.running + admitted
            self.m.gauge("tgi_queue_size", len(self.queue))
            self.m.gauge("tgi_batch_current_size", len(batch))
            self.m.gauge("tgi_batch_current_max_tokens", sum(e.budget for e in batch))
            self.m.counter("tgi_batch_inference_count", method=method)
            t0 = time.monotonic()
            try:
                await asyncio.sleep(self.token_s)
                await self._step_shards("Prefill" if admitted else "Decode", len(batch))
            except (OSError, ConnectionError, ValueError) as exc:
                self.m.counter("tgi_batch_inference_failure", method=method)
                for e in batch:
                    self.m.counter("tgi_request_failure", err="generation")
                    e.queue.put_nowait(
                        {
                            "error": f"Request failed during generation: Server error: {exc}",
                            "error_type": "generation",
                        }
                    )
                self.running = []
                continue
            dt = time.monotonic() - t0
            self.m.counter("tgi_batch_inference_success", method=method)
            self.m.histogram("tgi_batch_inference_duration", dt, method=method)
            self.m.histogram("tgi_batch_forward_duration", dt, method=method)
            self.m.histogram("tgi_batch_decode_duration", 0.0, method=method)
            self.m.histogram("tgi_batch_filter_duration", 0.0, method=method)
            self.healthy_until = time.monotonic() + 5
            still: list[Entry] = []
            for e in batch:
                if e.cancelled:
                    self.m.counter("tgi_request_failure", err="dropped")
                    continue
                token_id, is_eos = self._next_token(e)
                e.generated.append(token_id)
                text = "" if is_eos else self._text(token_id)
                token = {
                    "id": token_id,
                    "text": self.tokenizer.id_to_token(token_id) if is_eos else text,
                    "logprob": round(-random.random() * 2, 4),
                    "special": is_eos,
                }
                reason = None
                if is_eos:
                    reason = "eos_token"
                elif len(e.generated) >= e.valid.max_new_tokens:
                    reason = "length"
                elif e.valid.stop:
                    out = self.tokenizer.decode(e.generated, skip_special_tokens=True)
                    if any(out.endswith(s) for s in e.valid.stop):
                        reason = "stop_sequence"
                if reason is None:
                    e.queue.put_nowait({"token": token})
                    still.append(e)
                else:
                    e.queue.put_nowait({"token": token, "finish_reason": reason})
            self.running = still
            if self.running:
                self.m.histogram("tgi_batch_next_size", len(self.running))

    async def health(self) -> bool:
        if time.monotonic() < self.healthy_until:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*(s.call("Health") for s in self.shards)), timeout=5)
        except (OSError, ConnectionError, ValueError, TimeoutError):
            return False
        return True

    def info(self) -> dict[str, Any]:
        a = self.args
        return {
            "model_id": a.tokenizer_name,
            "model_sha": None,
            "model_pipeline_tag": None,
            "max_concurrent_requests": a.max_concurrent_requests,
            "max_best_of": a.max_best_of,
            "max_stop_sequences": a.max_stop_sequences,
            "max_input_tokens": self.max_input,
            "max_total_tokens": self.max_total,
            "validation_workers": a.validation_workers,
            "max_client_batch_size": a.max_client_batch_size,
            "router": "text-generation-router",
            "version": standin_version(),
            "sha": None,
            "docker_label": None,
        }


# ---------------------------------------------------------------- HTTP


class HTTPError(Exception):
    def __init__(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _dumps(obj: Any) -> bytes:
    """serde_json's compact form."""
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_error(status: int, error: str, error_type: str) -> HTTPError:
    body = _dumps({"error": error, "error_type": error_type})
    return HTTPError(status, body, "application/json")


def ms(seconds: float) -> str:
    return str(int(seconds * 1000))


class HTTPServer:
    def __init__(self, router: Router, payload_limit: int) -> None:
        self.router = router
        self.payload_limit = payload_limit

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # axum 0.7.9's ``axum::serve`` leaves Nagle on (no TCP_NODELAY): on a keep-alive connection
            # the client's delayed ACK holds the next small SSE event back (up to ~40 ms on Linux).
            nodelay = os.environ.get("TGI_STANDIN_TCP_NODELAY", "0") == "1"
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if nodelay else 0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await self._body(reader, headers)
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                path = target.split("?", 1)[0]
                if not await self.dispatch(method, path, headers, body, writer, keep):
                    break
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return out
                out += await reader.readexactly(size)
                await reader.readexactly(2)
        n = int(headers.get("content-length", "0") or 0)
        return await reader.readexactly(n) if n else b""

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"date: {formatdate(usegmt=True)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str | None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        headers = ([("content-type", content_type)] if content_type else []) + (extra or [])
        headers.append(("content-length", str(len(body))))
        writer.write(self._head(status, headers) + body)
        await writer.drain()

    async def dispatch(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
        keep: bool,
    ) -> bool:
        r = self.router
        get_routes = {"/", "/health", "/ping", "/info", "/metrics"}
        post_routes = {"/", "/generate", "/generate_stream"}
        try:
            if method == "GET" and path in get_routes:
                if path in ("/", "/health", "/ping"):
                    if await r.health():
                        await self.respond(writer, 200, b"", None)
                    else:
                        raise _json_error(503, "unhealthy", "healthcheck")
                elif path == "/info":
                    await self.respond(writer, 200, _dumps(r.info()), "application/json")
                else:
                    await self.respond(writer, 200, r.m.render().encode(), "text/plain; charset=utf-8")
                return True
            if method == "POST" and path in post_routes:
                req = self.json_body(headers, body, compat=path == "/")
                if path == "/generate_stream" or (path == "/" and req.get("stream")):
                    return await self.generate_stream(req, writer)
                await self.generate(req, writer)
                return True
            if path in get_routes | post_routes:
                raise HTTPError(405, b"", "")
            raise HTTPError(404, b"", "")
        except HTTPError as err:
            await self.respond(writer, err.status, err.body, err.content_type or None)
            return True

    def json_body(self, headers: dict[str, str], body: bytes, *, compat: bool) -> dict[str, Any]:
        if len(body) > self.payload_limit:
            raise HTTPError(413, b"length limit exceeded")
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if not (
            ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))
        ):
            raise HTTPError(415, b"Expected request with `Content-Type: application/json`")
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise HTTPError(400, f"Failed to parse the request body as JSON: {exc}".encode()) from None
        try:
            return deserialize_request(obj, compat=compat)
        except DeserializeError as exc:
            msg = f"Failed to deserialize the JSON body into the target type: {exc}"
            raise HTTPError(422, msg.encode()) from None

    def _acquire(self) -> None:
        r = self.router
        if r.in_flight >= r.args.max_concurrent_requests:
            r.m.counter("tgi_request_failure", err="overloaded")
            raise _json_error(429, "Model is overloaded", "overloaded")
        r.in_flight += 1

    def _valid(self, req: dict[str, Any]) -> Valid:
        try:
            return self.router.validate(req)
        except ValidationError as exc:
            self.router.m.counter("tgi_request_failure", err="validation")
            raise _json_error(422, f"Input validation error: {exc}", "validation") from None

    def _record_success(self, entry: Entry, generated: int) -> dict[str, str]:
        m, now = self.router.m, time.monotonic()
        total, validation = now - entry.start, entry.queued - entry.start
        queue, inference = entry.started - entry.queued, now - entry.started
        per_token = inference / max(generated, 1)
        m.counter("tgi_request_success")
        m.histogram("tgi_request_duration", total)
        m.histogram("tgi_request_validation_duration", validation)
        m.histogram("tgi_request_queue_duration", queue)
        m.histogram("tgi_request_inference_duration", inference)
        m.histogram("tgi_request_mean_time_per_token_duration", per_token)
        m.histogram("tgi_request_generated_tokens", generated)
        return {
            "x-compute-time": f"{total:.6f}",
            "x-total-time": ms(total),
            "x-validation-time": ms(validation),
            "x-queue-time": ms(queue),
            "x-inference-time": ms(inference),
            "x-time-per-token": ms(per_token),
        }

    async def _run(self, valid: Valid) -> tuple[Entry, list[dict[str, Any]], str, dict[str, Any] | None]:
        entry = self.router.submit(valid)
        tokens: list[dict[str, Any]] = []
        while True:
            ev = await entry.queue.get()
            if "error" in ev:
                return entry, tokens, "", ev
            tokens.append(ev["token"])
            if "finish_reason" in ev:
                return entry, tokens, ev["finish_reason"], None

    async def generate(self, req: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        r = self.router
        r.m.counter("tgi_request_count")
        compute = [("x-compute-type", "gpu+optimized"), ("x-compute-characters", str(len(req["inputs"])))]
        self._acquire()
        try:
            best_of = req["parameters"]["best_of"] if req["parameters"]["best_of"] is not None else 1
            try:
                r.validate_best_of(best_of)
            except ValidationError as exc:
                r.m.counter("tgi_request_failure", err="validation")
                raise _json_error(422, f"Input validation error: {exc}", "validation") from None
            valid = self._valid(req)
            runs = await asyncio.gather(
                *(self._run(valid if i == 0 else self._valid(req)) for i in range(best_of))
            )
            entry, tokens, reason, error = runs[0]
            if error is not None:
                raise _json_error(424, error["error"], error["error_type"])
            ids = [t["id"] for t in tokens]
            text = r.tokenizer.decode(ids, skip_special_tokens=True)
            if valid.return_full_text:
                text = valid.inputs + text
            out: dict[str, Any] = {"generated_text": text}
            if valid.details:
                prefill = []
                if valid.decoder_input_details:
                    prefill = [
                        {"id": t, "text": r._text(t), "logprob": None if i == 0 else -1.0}
                        for i, t in enumerate(valid.input_ids)
                    ]
                details: dict[str, Any] = {
                    "finish_reason": reason,
                    "generated_tokens": len(tokens),
                    "seed": valid.seed if valid.sampling else None,
                    "prefill": prefill,
                    "tokens": tokens,
                }
                if best_of > 1:
                    details["best_of_sequences"] = [
                        {
                            "generated_text": r.tokenizer.decode(
                                [t["id"] for t in tk], skip_special_tokens=True
                            ),
                            "finish_reason": rs,
                            "generated_tokens": len(tk),
                            "seed": e.valid.seed,
                            "prefill": [],
                            "tokens": tk,
                        }
                        for e, tk, rs, _ in runs[1:]
                    ]
                out["details"] = details
            timing = self._record_success(entry, len(tokens))
            extra = (
                compute
                + list(timing.items())
                + [("x-prompt-tokens", str(valid.input_length)), ("x-generated-tokens", str(len(tokens)))]
            )
            await self.respond(writer, 200, _dumps(out), "application/json", extra)
        finally:
            r.in_flight -= 1

    async def generate_stream(self, req: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        r = self.router
        r.m.counter("tgi_request_count")
        head = self._head(
            200,
            [
                ("content-type", "text/event-stream"),
                ("cache-control", "no-cache"),
                ("x-compute-type", "gpu+optimized"),
                ("x-compute-characters", str(len(req["inputs"]))),
                ("x-accel-buffering", "no"),
                ("transfer-encoding", "chunked"),
            ],
        )
        writer.write(head)

        async def send(obj: dict[str, Any]) -> None:
            data = b"data:" + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        p = req["parameters"]
        acquired = False
        entry: Entry | None = None
        try:
            if (p["best_of"] if p["best_of"] is not None else 1) != 1:
                r.m.counter("tgi_request_failure", err="validation")
                await send(
                    {
                        "error": "Input validation error: `best_of` != 1 is not supported when streaming "
                        "tokens",
                        "error_type": "validation",
                    }
                )
            elif p["decoder_input_details"]:
                r.m.counter("tgi_request_failure", err="validation")
                await send(
                    {
                        "error": "Input validation error: `decoder_input_details` == true is not supported "
                        "when streaming tokens",
                        "error_type": "validation",
                    }
                )
            else:
                try:
                    self._acquire()
                    acquired = True
                    valid = self._valid(req)
                except HTTPError as err:
                    await send(json.loads(err.body))
                    valid = None
                if valid is not None:
                    entry = r.submit(valid)
                    index = 0
                    ids: list[int] = []
                    while True:
                        try:
                            ev = await asyncio.wait_for(entry.queue.get(), timeout=15.0)
                        except TimeoutError:
                            writer.write(b"3\r\n:\n\n\r\n")  # axum KeepAlive::default(): a comment every 15 s
                            await writer.drain()
                            continue
                        index += 1
                        if "error" in ev:
                            await send(ev)
                            break
                        token = ev["token"]
                        ids.append(token["id"])
                        if "finish_reason" not in ev:
                            await send(
                                {"index": index, "token": token, "generated_text": None, "details": None}
                            )
                            continue
                        details = None
                        if valid.details:
                            details = {
                                "finish_reason": ev["finish_reason"],
                                "generated_tokens": len(ids),
                                "seed": valid.seed if valid.sampling else None,
                            }
                            if _version_tuple(standin_version()) >= (2, 3, 0):  # StreamDetails.input_length
                                details["input_length"] = valid.input_length
                        self._record_success(entry, len(ids))
                        text = r.tokenizer.decode(ids, skip_special_tokens=True)
                        if valid.return_full_text:
                            text = valid.inputs + text
                        await send(
                            {"index": index, "token": token, "generated_text": text, "details": details}
                        )
                        break
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        except (ConnectionError, OSError):
            if entry is not None:
                entry.cancelled = True
            return False
        finally:
            if acquired:
                r.in_flight -= 1


# ---------------------------------------------------------------- startup


class RouterError(Exception):
    pass


def _bind_addr(hostname: str) -> str:
    try:
        socket.inet_pton(socket.AF_INET, hostname)
        return hostname
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, hostname)
        return hostname
    except OSError:
        rlog("WARN", "Invalid hostname, defaulting to 0.0.0.0")
        return "0.0.0.0"


def _load_tokenizer(name: str) -> tuple[Any, set[int], list[int]]:
    from tokenizers import Tokenizer

    path = os.path.join(name, "tokenizer.json")
    tok = Tokenizer.from_file(path)
    eos: set[int] = set()
    for fname in ("generation_config.json", "config.json"):
        try:
            with open(os.path.join(name, fname)) as f:
                value = json.load(f).get("eos_token_id")
        except (OSError, ValueError):
            continue
        if isinstance(value, int):
            eos.add(value)
        elif isinstance(value, list):
            eos.update(v for v in value if isinstance(v, int))
        if eos:
            break
    specials = {tok.token_to_id(t) for t in ("<unk>", "<s>", "</s>", "<pad>")} - {None}
    words = [i for i in range(tok.get_vocab_size()) if i not in specials and i not in eos]
    return tok, eos, words


async def amain(args: argparse.Namespace) -> int:
    tokenizer, eos, words = _load_tokenizer(args.tokenizer_name)
    router = Router(args, tokenizer, eos, words)
    master = ShardClient(f"unix://{args.master_shard_uds_path}")
    try:
        urls = (await master.call("ServiceDiscovery"))["urls"]
        router.shards = [ShardClient(u) for u in urls]
        await asyncio.gather(*(s.call("ClearCache") for s in router.shards))
        await asyncio.gather(*(s.call("Info") for s in router.shards))
        warm = (
            await asyncio.gather(
                *(
                    s.call(
                        "Warmup",
                        max_input_tokens=args.max_input_tokens,
                        max_total_tokens=args.max_total_tokens,
                        max_batch_total_tokens=args.max_batch_total_tokens,
                    )
                    for s in router.shards
                )
            )
        )[0]
    except (OSError, ConnectionError, ValueError, KeyError) as exc:
        sys.stderr.write(f'Error: Backend(Connection("{exc}"))\n')
        return 1
    router.max_input, router.max_total = warm["max_input_tokens"], warm["max_total_tokens"]
    mbt = warm["max_supported_total_tokens"]
    router.max_batch_total = int(mbt) if mbt is not None else max(16000, router.max_total)
    if router.max_input >= router.max_total:
        sys.stderr.write('Error: ArgumentValidation("`max_input_tokens` must be < `max_total_tokens`")\n')
        return 1
    if args.max_batch_prefill_tokens > router.max_batch_total:
        sys.stderr.write(
            f'Error: ArgumentValidation("`max_batch_prefill_tokens` must be <= `max_batch_total_tokens`. '
            f'Given: {args.max_batch_prefill_tokens} and {router.max_batch_total}")\n'
        )
        return 1
    if router.max_total > router.max_batch_total:
        sys.stderr.write(
            f'Error: ArgumentValidation("`max_total_tokens` must be <= `max_batch_total_tokens`. '
            f'Given: {router.max_total} and {router.max_batch_total}")\n'
        )
        return 1
    router.metrics = Metrics(router.max_input, router.max_total)
    router.m.gauge("tgi_batch_max_total_tokens", router.max_batch_total)
    host = _bind_addr(args.hostname)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if args.prometheus_port is not None:  # PrometheusBuilder::with_http_listener(..).build(): bound, dropped
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.bind((host, args.prometheus_port))
            probe.listen(1)
        except OSError as exc:
            sys.stderr.write(
                "thread 'main' panicked at router/src/server.rs:1991:10:\nfailed to build prometheus "
                f'recorder: FailedToCreateHTTPListener("{exc.strerror} (os error {exc.errno})")\n'
            )
            return 101
        finally:
            probe.close()
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # tokio's TcpListener::bind sets it
        sock.bind((host, args.port))
        sock.listen(1024)
    except OSError as exc:
        rlog("ERROR", f"Failed to bind to {host}:{args.port}: {exc.strerror} (os error {exc.errno})")
        sys.stderr.write(
            f'Error: Axum(Os {{ code: {exc.errno}, kind: AddrInUse, message: "{exc.strerror}" }})\n'
        )
        return 1
    http = HTTPServer(router, args.payload_limit)
    server = await asyncio.start_server(http.handle, sock=sock, limit=2**20)
    loop_task = asyncio.create_task(router.loop())
    rlog("INFO", "Connected")
    stop = asyncio.Event()
    ev_loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        ev_loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    rlog("INFO", "signal received, starting graceful shutdown")
    server.close()
    loop_task.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="text-generation-router")
    for name, typ in (
        ("max-client-batch-size", int),
        ("max-concurrent-requests", int),
        ("max-best-of", int),
        ("max-stop-sequences", int),
        ("max-top-n-tokens", int),
        ("max-batch-prefill-tokens", int),
        ("waiting-served-ratio", float),
        ("max-waiting-tokens", int),
        ("validation-workers", int),
        ("port", int),
        ("prometheus-port", int),
        ("max-input-tokens", int),
        ("max-total-tokens", int),
        ("max-batch-total-tokens", int),
        ("max-batch-size", int),
        ("payload-limit", int),
    ):
        p.add_argument(f"--{name}", type=typ)
    for name in (
        "hostname",
        "master-shard-uds-path",
        "tokenizer-name",
        "usage-stats",
        "tokenizer-config-path",
        "revision",
        "otlp-endpoint",
        "otlp-service-name",
        "api-key",
    ):
        p.add_argument(f"--{name}")
    p.add_argument("--cors-allow-origin", action="append", default=[])
    for name in ("disable-grammar-support", "trust-remote-code", "json-output"):
        p.add_argument(f"--{name}", action="store_true")
    args, _ = p.parse_known_args(argv)
    if args.max_top_n_tokens is None:
        args.max_top_n_tokens = 5
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
