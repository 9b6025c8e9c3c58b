"""Scheduling on simulated Ray clusters with a sleep-based command engine (no GPUs, no vLLM)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator.config.store import load_experiment
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.execution.cluster import RayCluster
from orchestrator.execution.scheduler import Scheduler
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand
from tests.conftest import kill_tagged, tagged_env, wait_no_tagged

pytestmark = pytest.mark.integration


SLEEPER = Path(__file__).parents[2] / "engines" / "standins" / "sleeper.py"


def sleep_command(seconds: float, marker_dir: Path | None = None) -> str:
    """A command-engine template: optionally mark the start, sleep, write one metrics line."""
    return f"{{python}} {SLEEPER} {seconds} {{metrics_file}} {{tp}} {{trial_id}} {marker_dir or '-'}"


def orchestrate(*overrides: str, tag: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *overrides],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tagged_env(tag),
    )


def test_two_nodes_no_gpu_shared_and_tp16_spans(results_dir: Path, tag: str) -> None:
    proc = orchestrate(
        "engine=command",
        f"engine.command='{sleep_command(0.5)}'",
        "engine.tp=[1,2,4,8,16]",
        "workload.concurrency=[1,2,3]",
        "resources.num_nodes=2",
        "ray.max_concurrent_engines=16",
        "tracking=none",
        f"results_dir={results_dir}",
        "sweep_id=two-nodes",
        tag=tag,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = ResultsStore(results_dir, "two-nodes").all_results()
    assert len(results) == 15 and all(r["status"] == "DONE" for r in results)
    for r in results:
        assert len(r["engine_info"]["gpus"]) == r["tp"], r
    windows: dict[str, list[tuple[float, float, str]]] = {}
    for r in results:
        for gpu in r["engine_info"]["gpus"]:
            windows.setdefault(gpu, []).append((r["started_at"], r["ended_at"], r["trial_id"]))
    for gpu, spans in windows.items():
        for (a0, a1, ta), (b0, b1, tb) in itertools.combinations(sorted(spans), 2):
            assert a1 <= b0 or b1 <= a0, f"GPU {gpu} held by {ta} and {tb} at once"
    tp16 = [r for r in results if r["tp"] == 16]
    assert len(tp16) == 3
    for r in tp16:
        nodes = {p["node_id"] for p in r["engine_info"]["placement"]}
        assert len(nodes) == 2, "TP 16 spans both 8-GPU nodes"
    used_nodes = {g.split(":")[0] for g in windows}
    assert len(used_nodes) == 2
    assert wait_no_tagged(tag) == []


def test_node_lost_mid_trial_is_retried_then_failed(tmp_path: Path) -> None:
    """A worker node dies under a running TP-8 engine: retried on fresh resources; with no retries, FAILED."""
    for retries, expected in ((1, Status.DONE), (0, Status.FAILED)):
        markers = tmp_path / f"markers-{retries}"
        markers.mkdir()
        cfg = load_experiment(
            [
                "engine=command",
                f"engine.command='{sleep_command(4, markers)}'",
                "engine.tp=[8]",
                "engine.reuse=false",
                "workload.concurrency=[1,2]",
                "resources.num_nodes=2",
                "ray.max_concurrent_engines=2",
                f"ray.max_retries={retries}",
            ]
        )
        trials = expand(cfg)
        cluster = RayCluster(cfg.ray, cfg.resources).open()
        results: dict[str, TrialResult] = {}

        def on_result(trial: Trial, result: TrialResult, out: dict[str, TrialResult] = results) -> None:
            out[trial.trial_id] = result

        def kill_worker_when_both_run(c: RayCluster = cluster, d: Path = markers) -> None:
            deadline = time.monotonic() + 120
            while len(list(d.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            c._cluster.remove_node(c._cluster.worker_nodes.copy().pop())

        killer = threading.Thread(target=kill_worker_when_both_run, daemon=True)
        killer.start()
        try:
            Scheduler(cfg, f"lost-{retries}", cluster.nodes(), on_result).run(trials)
        finally:
            killer.join(timeout=10)
            cluster.close()
        assert set(results) == {t.trial_id for t in trials}
        statuses = sorted(r.status for r in results.values())
        if expected == Status.DONE:
            assert statuses == [Status.DONE, Status.DONE]
            assert sorted(r.engine_info.get("attempt", 0) for r in results.values()) == [0, 1]
        else:
            lost = [r for r in results.values() if r.status == Status.FAILED]
            assert len(lost) == 1 and lost[0].reason is not None and lost[0].reason.value == "node_lost"


def test_killed_sweep_resumes_and_runs_each_trial_once(results_dir: Path, tmp_path: Path, tag: str) -> None:
    markers = tmp_path / "runs"
    markers.mkdir()
    args = [
        "engine=command",
        f"engine.command='{sleep_command(1, markers)}'",
        "engine.tp=[1]",
        "workload.concurrency=[1,2,3,4,5,6]",
        "tracking=none",
        f"results_dir={results_dir}",
        "sweep_id=resume",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args], stdout=subprocess.PIPE, text=True, env=tagged_env(tag)
    )
    store = ResultsStore(results_dir, "resume")
    deadline = time.monotonic() + 180
    while len(store.done_ids()) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup at all in the driver
    proc.wait()
    done_before = store.done_ids()
    assert 2 <= len(done_before) < 6
    # The engines are ours: their watchdogs take them down once the actor is gone. Ray's own
    # dashboard/runtime-env agents of a SIGKILLed driver can outlive it for minutes (Ray's
    # behaviour); they carry the test's tag, so the test ends them itself.
    assert wait_no_tagged(tag, timeout_s=60, matching=("sleeper.py", "engines.watchdog")) == []
    kill_tagged(tag)
    again = orchestrate(*args, tag=tag)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    results = store.all_results()
    assert len(results) == 6 and all(r["status"] == "DONE" for r in results)
    for trial_id in done_before:
        assert (markers / trial_id).read_text() == "x", "a DONE trial is never run again"


def test_ray_job_submit_runs_the_same_command(tmp_path: Path, results_dir: Path) -> None:
    """`ray job submit -- python -m orchestrator ...` against a head started here on 127.0.0.1."""
    from engines.process import free_port, group_alive

    temp = Path(f"/tmp/rayjob-{os.getpid()}")
    # Ray 2.60 turns token auth on for `ray start` when ~/.ray/auth_token exists (the first local
    # ray.init writes it); this private test head runs without it, and so does its client.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    ports = {
        name: free_port()
        for name in ("gcs", "dash", "agent", "agent_grpc", "nm", "om", "renv", "metrics", "client")
    }
    head = subprocess.Popen(
        [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={ports['gcs']}", "--include-dashboard=true",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={ports['dash']}",
            f"--dashboard-agent-listen-port={ports['agent']}",
            f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
            f"--node-manager-port={ports['nm']}", f"--object-manager-port={ports['om']}",
            f"--runtime-env-agent-port={ports['renv']}", f"--metrics-export-port={ports['metrics']}",
            f"--ray-client-server-port={ports['client']}", "--num-cpus=8", "--num-gpus=8",
            f"--temp-dir={temp}",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )  # fmt: skip
    dash = f"http://127.0.0.1:{ports['dash']}"
    try:
        submit = [sys.executable, "-m", "ray.scripts.scripts", "job", "submit", f"--address={dash}", "--"]
        entry = [
            sys.executable, "-m", "orchestrator", "engine=command", f"engine.command='{sleep_command(0.2)}'",
            "engine.tp=[2,4]", "workload.concurrency=[1]", "ray.address=auto", "tracking=none",
            f"results_dir={results_dir}", "sweep_id=job",
        ]  # fmt: skip
        deadline = time.monotonic() + 120
        while True:  # the job server comes up a few seconds after the head
            out = subprocess.run(submit + entry, capture_output=True, text=True, timeout=300, env=env)
            if (
                out.returncode == 0
                or time.monotonic() > deadline
                or "Connection" not in out.stderr + out.stdout
            ):
                break
            time.sleep(2)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "succeeded" in out.stdout
        results = ResultsStore(results_dir, "job").all_results()
        assert len(results) == 2 and all(r["status"] == "DONE" for r in results)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        deadline = time.monotonic() + 30
        while group_alive(head.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", str(temp)], check=False)
    assert not group_alive(head.pid)
