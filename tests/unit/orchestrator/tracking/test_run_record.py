"""Stored trial → MLflow run record; upload markers; comparison frame from the local store (no server)."""

from __future__ import annotations

import math
from pathlib import Path

from engines.standins.fake_trials import HF_TOKEN, make_result, write_sweep
from orchestrator.tracking import compare
from orchestrator.tracking.run_record import flatten, record_of, step_points
from tests.helpers import not_uploaded


def test_record_from_store(tmp_path: Path) -> None:
    store, trials = write_sweep(tmp_path, "s1", ["engine.tp=[1,2]", "workload.concurrency=[1,4]"], failed=1)
    store.write(trials[0], make_result(trials[0], steps=True))
    rec = record_of(store.trial(trials[0].trial_id))
    assert rec.ok and rec.name == trials[0].name and rec.trial_id == trials[0].trial_id
    assert rec.tags["engine"] == "vllm" and rec.tags["tp"] == "1" and rec.tags["workload"] == "c1-in64-out32"
    assert rec.tags["host.hostname"] == "node-a" and rec.tags["status"] == "DONE"
    assert rec.tags["steps_x"] == "offered_rate"
    assert rec.params["workload.concurrency"] == "1" and rec.params["engine.tp"] == "1"
    assert rec.metrics["engine_startup_s"] == 1.5 and "goodput" not in rec.metrics
    assert [p.name for p in rec.artifacts] == ["config.yaml", "result.json", "requests.parquet", "engine.log"]
    failed = record_of(store.trial(trials[-1].trial_id))
    assert not failed.ok and failed.metrics == {} and failed.tags["failure_reason"] == "engine_crash"


def test_step_points_sorted_by_rate_with_x_as_metric() -> None:
    pts = step_points([{"offered_rate": 4, "ttft_ms": 40.0}, {"offered_rate": 0.5, "ttft_ms": math.nan}])
    assert pts == [(0, {"steps/offered_rate": 0.5}), (1, {"steps/offered_rate": 4.0, "steps/ttft_ms": 40.0})]


def test_flatten_truncates() -> None:
    assert flatten({"a": {"b": 1, "c": "x" * 600}}) == {"a.b": "1", "a.c": "x" * 500}


def test_upload_markers(tmp_path: Path) -> None:
    store, trials = write_sweep(tmp_path, "s2", ["engine.tp=[1]", "workload.concurrency=[1,4]"])
    assert sorted(not_uploaded(store)) == sorted(t.trial_id for t in trials)
    store.mark_upload(trials[0].trial_id, True, uri="http://127.0.0.1:1", run_id="r1")
    assert not_uploaded(store) == [trials[1].trial_id]
    store.write(trials[0], make_result(trials[0]))  # a rerun replaces the trial dir: upload again
    assert sorted(not_uploaded(store)) == sorted(t.trial_id for t in trials)


def test_store_files_are_redacted(tmp_path: Path) -> None:
    store, trials = write_sweep(tmp_path, "s3", [f"+engine.env.HF_TOKEN={HF_TOKEN}", "engine.tp=[1]"])
    for path in store.sweep_dir.rglob("*"):
        if path.is_file():
            assert HF_TOKEN.encode() not in path.read_bytes(), path
    assert "[REDACTED]" in (store.trial_dir(trials[0].trial_id) / "config.yaml").read_text()


def test_comparison_from_store(tmp_path: Path) -> None:
    write_sweep(tmp_path, "s4", ["engine.tp=[1,2]", "workload.concurrency=[1,4]"], failed=1)
    df = compare.from_store(tmp_path, "s4")
    assert list(df.columns[:8]) == list(compare.ID_COLUMNS)
    assert len(df) == 4 and df["tp"].tolist() == sorted(df["tp"].tolist())
    assert df["status"].value_counts().to_dict() == {"DONE": 3, "FAILED": 1}
    assert df.loc[df["status"] == "FAILED", "metrics.ttft_p50_ms"].isna().all()
    assert compare.from_store(tmp_path, "no-such-sweep").empty
