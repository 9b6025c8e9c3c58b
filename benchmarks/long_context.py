"""Long contexts: the client's parse cost per byte, and TTFT error and throughput at 50K / 128K-token
prompts next to ``vllm bench serve``'s, on the fake OpenAI server.

``python -m benchmarks.long_context [--contexts 50000,131072] [--quick]``

1. Parse cost, in this process: a chunked SSE response of 1 MB and of 16 MB, fed in 64 KB reads
   (a socket read's size) through the client's per-byte path: the HTTP/1.1 parser, the SSE parser
   and the OpenAI accumulator for a long streamed output (one token event per chunk), the two
   parsers alone for one long event (a 1 / 16 MB line: an echoed prompt, a large usage object).
   Best of 3 at 1, 4 and 16 MB; ``ratio`` = time per byte at 16 MB / at 1 MB (1.0: linear; a
   quadratic parser's grows with the size, 16x over this range).
2. Per context, each tool as its own process against one fake server
   (:mod:`engines.standins.fake_openai_server`), prompts of that many words (one token each for the
   tiny model's tokenizer; ``vllm bench serve``: its random dataset at that length):
   a. TTFT: ``--ttft-n`` requests at ``--ttft-rate`` req/s, 64 tokens per response (the first at
      once, then one per ms). TTFT error = client TTFT - the server's (first token written - first
      byte of the request read): ours paired per request by prompt tag, p50 of the errors;
      ``vllm bench serve``'s p50 TTFT - the server's p50 (its prompts cannot be paired).
   b. Throughput: ``--tput-n`` requests at once, each response ``--tokens`` tokens written as fast
      as the server's loop goes (``--itl-ms 0``): each tool's own output tokens/s, and the
      server-observed figure (all tokens / first request byte → last response end), which is the
      same clock for both tools.

Every process runs at ``nice -n -15``. Writes ``benchmarks/results/long_context.json``, prints a
table, and last the ratios ours / ``vllm bench serve`` (throughput, server-observed and each tool's
own: above 1 is ours faster; TTFT error: below 1 is ours closer to the server's truth).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.client_vs_peers import run_point
from benchmarks.fake_server import http, start_server
from benchmarks.peers import Job, tools
from benchmarks.report_file import run_setup, write_json
from engines.process import free_port
from engines.tiny_model import ensure_tiny_model
from workloads.clients.http1 import ResponseParser
from workloads.clients.openai import _Accumulator
from workloads.clients.sse import SSEParser

RESULTS = Path(__file__).resolve().parent / "results" / "long_context.json"
READ = 65536
TOOLS = ("ours", "vllm bench serve")
KEEP = (
    "ok", "errors", "ttft_error_p50_ms", "ttft_error_paired_p50_ms", "ttft_error_paired_p99_ms",
    "server_ttft_p99_ms", "own_output_tok_s", "server_output_tok_s", "wall_s",
)  # fmt: skip


def _stream_body(size: int) -> bytes:
    """A completions stream of about ``size`` bytes: one token event per HTTP chunk."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts, total, k = [head], len(head), 0
    while total < size:
        choice = {"index": 0, "text": f" w{k % 1000}", "logprobs": None, "finish_reason": None}
        obj = {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": "tiny",
            "choices": [choice],
        }
        event = b"data: " + json.dumps(obj).encode() + b"\n\n"
        parts.append(b"%x\r\n%s\r\n" % (len(event), event))
        total += len(parts[-1])
        k += 1
    done = b"data: [DONE]\n\n"
    parts.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    return b"".join(parts)


def _long_event(size: int) -> bytes:
    data = b"data: " + b"w7 " * (size // 3) + b"\n\n"
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)


def _parse(raw: bytes, *, accumulate: bool) -> float:
    """Seconds to parse ``raw`` in 64 KB reads, as the client does."""
    t0 = time.perf_counter()
    http1, sse, acc = ResponseParser(), SSEParser(), _Accumulator(chat=False)
    for i in range(0, len(raw), READ):
        for piece in http1.feed(raw[i : i + READ]):
            for event in sse.feed(piece):
                if accumulate:
                    acc.on_event(event, i)
    assert http1.complete and (acc.done or not accumulate)
    return time.perf_counter() - t0


def parse_cost() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, build, accumulate in (("stream", _stream_body, True), ("long_event", _long_event, False)):
        per_byte = {}
        for mb in (1, 4, 16):
            raw = build(mb << 20)
            per_byte[mb] = min(_parse(raw, accumulate=accumulate) for _ in range(3)) / len(raw) * 1e9
        out[name] = {f"ns_per_byte_{mb}mb": round(v, 2) for mb, v in per_byte.items()}
        out[name]["ratio"] = round(per_byte[16] / per_byte[1], 3)
        print(f"  parse {name:10s}: {out[name]}", flush=True)
    return out


def _throughputs(tool: str, job: Job) -> dict[str, float]:
    """The tool's own output tokens/s and the server-observed one (same clock for every tool)."""
    own = json.loads((job.workdir / ("ours.json" if tool == "ours" else "vllm.json")).read_text())
    stats = http(f"{job.url}/stats")
    done = [(a, e) for a, e in zip(stats["arrival_ns"], stats["end_ns"], strict=True) if e]
    done = sorted(done)[-job.n :]  # vllm bench's test prompt, if any, is not part of the run
    span_s = (max(e for _, e in done) - min(a for a, _ in done)) / 1e9
    return {
        "own_output_tok_s": round(
            own["output_token_throughput"] if tool == "ours" else own["output_throughput"], 1
        ),
        "server_output_tok_s": round(len(done) * job.output_len / span_s, 1),
    }


def run_context(words: int, args: argparse.Namespace, tok: Path, logs: Path) -> dict[str, Any]:
    chosen = [t for t in tools() if t.name in TOOLS]
    entry: dict[str, Any] = {"input_tokens": words}
    for phase, tokens, itl, rate, n in (
        ("ttft", 64, 1.0, args.ttft_rate, args.ttft_n),
        ("throughput", args.tokens, 0.0, float("inf"), args.tput_n),
    ):
        port = free_port()
        server = start_server(port, tokens, itl, logs / f"server-{words}-{phase}.log")
        try:
            for tool in chosen:
                with tempfile.TemporaryDirectory(prefix="long-") as d:
                    job = Job(
                        f"http://127.0.0.1:{port}", rate, n, Path(d), tok, input_len=words, output_len=tokens
                    )
                    point = run_point(tool, job, timeout_s=900)
                    if phase == "throughput" and point.get("ok") == n:
                        point.update(_throughputs(tool.name, job))
                shown = {k: point[k] for k in KEEP if k in point}
                if point.get("ok") != n:  # why it did not complete (a send-delay rule is no concern here)
                    shown["reason"] = point.get("reason", "")
                entry.setdefault(tool.name, {})[phase] = shown
                print(f"  {words:>7} {phase:10s} {tool.name:16s} {json.dumps(shown)[:260]}", flush=True)
        finally:
            os.killpg(server.pid, 15)
            server.wait(10)
    return entry


def _ttft_error(entry: dict[str, Any], tool: str) -> float | None:
    t = entry.get(tool, {}).get("ttft", {})
    value = t.get("ttft_error_paired_p50_ms", t.get("ttft_error_p50_ms"))
    return float(value) if isinstance(value, int | float) else None


def ratios(entries: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for e in entries:
        k = f"{e['input_tokens'] // 1000}k"
        for basis in ("server", "own"):
            ours, peer = (e.get(t, {}).get("throughput", {}).get(f"{basis}_output_tok_s") for t in TOOLS)
            out[f"throughput_{basis}_{k}"] = round(ours / peer, 3) if ours and peer else None
        ours_err, peer_err = _ttft_error(e, "ours"), _ttft_error(e, "vllm bench serve")
        out[f"ttft_error_{k}"] = round(ours_err / peer_err, 3) if ours_err is not None and peer_err else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contexts", default="50000,131072", help="prompt lengths in tokens")
    ap.add_argument("--ttft-rate", type=float, default=2.0)
    ap.add_argument("--ttft-n", type=int, default=12)
    ap.add_argument("--tput-n", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=4096, help="tokens per response in the throughput phase")
    ap.add_argument("--quick", action="store_true", help="one context (50K), fewer requests")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    contexts = [int(c) for c in args.contexts.split(",")]
    if args.quick:
        contexts, args.ttft_n, args.tput_n, args.tokens = contexts[:1], 4, 4, 256
    load_before = os.getloadavg()
    t0 = time.monotonic()
    print("parse cost per byte (1 MB vs 16 MB):", flush=True)
    parse = parse_cost()
    tok = ensure_tiny_model()
    logs = Path(tempfile.mkdtemp(prefix="long-context-"))
    try:
        entries = [run_context(words, args, tok, logs) for words in contexts]
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    report = {
        "ratios_ours_over_vllm_bench": ratios(entries),
        "parse_cost": parse,
        "contexts": entries,
        "setup": {
            **run_setup(load_before, time.monotonic() - t0),
            "args": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
            "note": args.note,
        },
        "method": __doc__.split("\n\n", 2)[2].strip(),
    }
    write_json(args.out, report)
    print(f"\n{'context':>8} {'tool':16s} {'TTFT err p50 ms':>16s} {'own tok/s':>10s} {'server tok/s':>13s}")
    for e in entries:
        for tool in TOOLS:
            tput = e.get(tool, {}).get("throughput", {})
            err = _ttft_error(e, tool)
            cells = [
                "-" if v is None else str(v)
                for v in (err, tput.get("own_output_tok_s"), tput.get("server_output_tok_s"))
            ]
            print(f"{e['input_tokens']:>8} {tool:16s} {cells[0]:>16s} {cells[1]:>10s} {cells[2]:>13s}")
    print(
        "ratios ours / vllm bench serve: "
        + " ".join(f"{k}={v}" for k, v in report["ratios_ours_over_vllm_bench"].items())
    )


if __name__ == "__main__":
    main()
