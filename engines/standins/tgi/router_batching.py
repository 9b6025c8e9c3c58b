"""The router's engine: continuous batching over the shards (TGI v3.3.7 ``backends/v3``).

One decode step every ``TGI_STANDIN_TOKEN_MS`` for the whole running batch, admission bounded by
max_batch_total_tokens / max_batch_size / max_batch_prefill_tokens, every step a round trip to
every shard over its unix socket (a dead shard fails the batch: error_type ``generation``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engines.standins.tgi.router_metrics import Metrics
from engines.standins.tgi.router_validation import Valid, validate, validate_best_of
from engines.standins.tgi.version import standin_version


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

    def validate(self, req: dict[str, Any]) -> Valid:
        return validate(req, self.args, self.tokenizer, self.max_input, self.max_total, self.m)

    def validate_best_of(self, best_of: int) -> None:
        validate_best_of(self.args, best_of)

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
