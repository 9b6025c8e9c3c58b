"""Run OUR generator once at a constant rate, in its own process, and write its records as JSON.

``python -m benchmarks.run_ours --url http://127.0.0.1:8711 --rate 200 --n 400 --out out.json``.
Prompt i is ``"r<i> w1 w2 ..."`` (``--input-len`` words), so its first 32 characters tag it on the
fake server. Output: ``{"ttft_ms": [...], "send_delay_ms": [...], "ok": n, "errors": n, "tags": [...],
"output_token_throughput": tok/s, "request_throughput": req/s}`` (``--rate inf``: all at once).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from workloads.metrics import summarize
from workloads.sender import SPIN_NS, run_open_loop_sync


def prompt(i: int, input_len: int) -> str:
    """A tagged prompt: ``r<i>`` then ``input_len - 1`` vocabulary words of the tiny model."""
    return " ".join([f"r{i}", *(f"w{k % 1000}" for k in range(1, input_len))])


def tag(i: int, input_len: int) -> str:
    """What the fake server records for prompt ``i`` (its first 32 characters)."""
    return prompt(i, input_len)[:32]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="server base URL")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--input-len", type=int, default=16)
    ap.add_argument("--output-len", type=int, default=8)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    ap.add_argument("--spin-us", type=float, default=SPIN_NS / 1e3)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    payloads = [
        {"model": "tiny", "prompt": prompt(i, args.input_len), "max_tokens": args.output_len}
        for i in range(args.n)
    ]
    cpu0 = time.process_time()
    records = run_open_loop_sync(  # the tool's own open-loop sender, as a trial would run it
        args.url.rstrip("/"),
        payloads,
        [i / args.rate for i in range(args.n)],
        timeout_s=args.timeout_s,
        spin_ns=int(args.spin_us * 1e3),
        loop=args.loop,
    )
    cpu_s = time.process_time() - cpu0
    ok = [r for r in records if r.ok and r.ttft_ns is not None]
    out = {
        "ttft_ms": [r.ttft_ns / 1e6 for r in ok if r.ttft_ns is not None],
        "tags": [tag(r.request_id, args.input_len) for r in ok],
        "send_delay_ms": [r.send_delay_ns / 1e6 for r in records],
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "error_kinds": sorted({r.error_kind or "" for r in records if not r.ok}),
        "cpu_us_per_request": cpu_s / max(1, len(records)) * 1e6,
    }
    summary = summarize(records, max_send_delay_p99_ms=float("inf"))
    out["output_token_throughput"] = summary["output_token_throughput"]
    out["request_throughput"] = summary["request_throughput"]
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
