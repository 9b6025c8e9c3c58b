"""Our client against the fake server's recorded truth: TTFT is measured from the right moments.

The server (its own process) stamps each request's arrival and its first token write with
CLOCK_MONOTONIC, the clock of ``time.perf_counter_ns`` in the client. Causality makes client TTFT
>= server TTFT for every request (the client stamps before writing and after reading); the error
bound is generous because this is a correctness check on a shared machine, not a speed claim.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines.standins.truth import ServerTruth, paired_ttft_errors_ns, pct
from workloads.driver import run_concurrency_sync
from workloads.sender import run_open_loop_sync

pytestmark = pytest.mark.integration

SERVER = Path(__file__).resolve().parents[2] / "engines" / "standins" / "fake_openai_server.py"
TTFT_MS = 20.0
P50_BOUND_MS = 20.0  # generous: other jobs starve both processes by several ms on a busy 2-core box


def _get(url: str, method: str = "GET") -> dict[str, object]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, str(SERVER), "--port", str(port), "--tokens", "6", "--ttft-ms", str(TTFT_MS)]
    proc = subprocess.Popen(argv, stdout=(tmp_path / "server.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(url + "/health")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "fake server did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _payloads(n: int) -> list[dict[str, object]]:
    return [{"model": "tiny", "prompt": f"r{i} w1 w2 w3", "max_tokens": 6} for i in range(n)]


def _check(records: list, url: str, n: int) -> list[float]:  # type: ignore[type-arg]
    assert all(r.ok for r in records), [r.error for r in records if not r.ok]
    assert all(r.output_tokens == 6 and len(r.token_times_ns) == 6 for r in records)
    truth = ServerTruth.from_stats(_get(url + "/stats"))
    assert len(truth.arrival_ns) == n
    by_tag = {f"r{r.request_id} w1 w2 w3": r.ttft_ns for r in records}
    errors_ms = [e / 1e6 for e in paired_ttft_errors_ns(by_tag, truth)]
    assert len(errors_ms) == n
    assert min(truth.server_ttft_ns) >= TTFT_MS * 1e6  # the server honoured its first-token delay
    assert min(errors_ms) >= 0, "client TTFT shorter than the server's: a timestamp is taken too late"
    return errors_ms


def test_concurrency_driver_ttft_matches_server_truth(fake_server: str) -> None:
    n = 40
    records = run_concurrency_sync(fake_server, _payloads(n), concurrency=4, timeout_s=30)
    errors_ms = _check(records, fake_server, n)
    assert pct(errors_ms, 50) < P50_BOUND_MS, errors_ms


def test_open_loop_sender_ttft_and_schedule(fake_server: str) -> None:
    n = 40
    offsets = [i / 100.0 for i in range(n)]  # 100 req/s
    records = run_open_loop_sync(fake_server, _payloads(n), offsets, timeout_s=30, loop="asyncio")
    errors_ms = _check(records, fake_server, n)
    assert pct(errors_ms, 50) < P50_BOUND_MS, errors_ms
    assert all(r.send_delay_ns >= 0 for r in records), "a request left before its scheduled time"
    gaps = [b.scheduled_ns - a.scheduled_ns for a, b in itertools.pairwise(records)]
    assert all(abs(g - 10_000_000) <= 1 for g in gaps)  # 100 req/s: one every 10 ms
