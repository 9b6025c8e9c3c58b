"""The generate routes: ``/generate`` (JSON, ``best_of``) and ``/generate_stream`` (SSE), with
their admission (``max_concurrent_requests`` → 429), validation errors and timing headers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from engines.standins.tgi.router_batching import Entry, Router
from engines.standins.tgi.router_validation import Valid, ValidationError
from engines.standins.tgi.router_wire import HTTPError, dumps, head_bytes, json_error, ms, respond
from engines.standins.tgi.version import standin_version, version_tuple


def acquire(r: Router) -> None:
    if r.in_flight >= r.args.max_concurrent_requests:
        r.m.counter("tgi_request_failure", err="overloaded")
        raise json_error(429, "Model is overloaded", "overloaded")
    r.in_flight += 1


def valid_request(r: Router, req: dict[str, Any]) -> Valid:
    try:
        return r.validate(req)
    except ValidationError as exc:
        r.m.counter("tgi_request_failure", err="validation")
        raise json_error(422, f"Input validation error: {exc}", "validation") from None


def record_success(r: Router, entry: Entry, generated: int) -> dict[str, str]:
    m, now = r.m, time.monotonic()
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


async def run(r: Router, valid: Valid) -> tuple[Entry, list[dict[str, Any]], str, dict[str, Any] | None]:
    entry = r.submit(valid)
    tokens: list[dict[str, Any]] = []
    while True:
        ev = await entry.queue.get()
        if "error" in ev:
            return entry, tokens, "", ev
        tokens.append(ev["token"])
        if "finish_reason" in ev:
            return entry, tokens, ev["finish_reason"], None


async def generate(r: Router, req: dict[str, Any], writer: asyncio.StreamWriter) -> None:
    """``POST /generate`` (and ``POST /`` without ``stream``): one JSON response."""
    r.m.counter("tgi_request_count")
    compute = [("x-compute-type", "gpu+optimized"), ("x-compute-characters", str(len(req["inputs"])))]
    acquire(r)
    try:
        best_of = req["parameters"]["best_of"] if req["parameters"]["best_of"] is not None else 1
        try:
            r.validate_best_of(best_of)
        except ValidationError as exc:
            r.m.counter("tgi_request_failure", err="validation")
            raise json_error(422, f"Input validation error: {exc}", "validation") from None
        valid = valid_request(r, req)
        runs = await asyncio.gather(
            *(run(r, valid if i == 0 else valid_request(r, req)) for i in range(best_of))
        )
        entry, tokens, reason, error = runs[0]
        if error is not None:
            raise json_error(424, error["error"], error["error_type"])
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
                        "generated_text": r.tokenizer.decode([t["id"] for t in tk], skip_special_tokens=True),
                        "finish_reason": rs,
                        "generated_tokens": len(tk),
                        "seed": e.valid.seed,
                        "prefill": [],
                        "tokens": tk,
                    }
                    for e, tk, rs, _ in runs[1:]
                ]
            out["details"] = details
        timing = record_success(r, entry, len(tokens))
        extra = (
            compute
            + list(timing.items())
            + [("x-prompt-tokens", str(valid.input_length)), ("x-generated-tokens", str(len(tokens)))]
        )
        await respond(writer, 200, dumps(out), "application/json", extra)
    finally:
        r.in_flight -= 1


async def generate_stream(r: Router, req: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
    """``POST /generate_stream``: SSE over a chunked body; errors after the head are events."""
    r.m.counter("tgi_request_count")
    head = head_bytes(
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
                    "error": "Input validation error: `best_of` != 1 is not supported when streaming tokens",
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
                acquire(r)
                acquired = True
                valid = valid_request(r, req)
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
                        await send({"index": index, "token": token, "generated_text": None, "details": None})
                        continue
                    details = None
                    if valid.details:
                        details = {
                            "finish_reason": ev["finish_reason"],
                            "generated_tokens": len(ids),
                            "seed": valid.seed if valid.sampling else None,
                        }
                        if version_tuple(standin_version()) >= (2, 3, 0):  # StreamDetails.input_length
                            details["input_length"] = valid.input_length
                    record_success(r, entry, len(ids))
                    text = r.tokenizer.decode(ids, skip_special_tokens=True)
                    if valid.return_full_text:
                        text = valid.inputs + text
                    await send({"index": index, "token": token, "generated_text": text, "details": details})
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
