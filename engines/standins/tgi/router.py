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

This file is the program (startup and arguments); its parts: ``router_http`` (the server and routes),
``router_wire`` (HTTP/1.1 framing and errors), ``router_generate`` (the generate routes and SSE),
``router_validation`` (serde and validation.rs), ``router_batching`` (the batching loop and the
shards), ``router_metrics`` (``/metrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a file (bin/text-generation-router): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[3])

from engines.standins.tgi.router_batching import Router, ShardClient
from engines.standins.tgi.router_http import HTTPServer
from engines.standins.tgi.router_metrics import Metrics


def rlog(level: str, message: str) -> None:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1000000:06d}Z"
    sys.stdout.write(f"{ts} {level:>5} text_generation_router::server: router/src/server.rs: {message}\n")
    sys.stdout.flush()


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
