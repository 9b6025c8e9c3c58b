"""MLflow tracking against a real server on 127.0.0.1, with trials built directly (no engine)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from engines.process import free_port
from engines.standins.fake_trials import API_KEY, HF_TOKEN, make_result, write_sweep
from orchestrator.config.store import load_experiment
from orchestrator.store.results import ResultsStore
from orchestrator.tracking import compare
from orchestrator.tracking.run_record import RunRecord
from orchestrator.tracking.server import MLflowServer
from orchestrator.tracking.sync import Uploader
from orchestrator.tracking.tracker import Tracker
from tests.helpers import not_uploaded
from tests.integration.mlflow_rest import sweep_runs

pytestmark = pytest.mark.integration

GRID = ["engine.tp=[1,2]", "workload.concurrency=[1,4]"]


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "1")


def upload_all(store: ResultsStore, uri: str, experiment: str, params: dict | None = None) -> list[str]:
    """What the app does during a sweep; returns the warnings printed."""
    warnings: list[str] = []
    up = Uploader(store, warnings.append)
    meta = store.sweep_meta()
    up.connect(uri, experiment, params if params is not None else meta["config"], {"preset": meta["name"]})
    for r in store.all_results():
        up.upload(r["trial_id"])
    up.finish(all(r["status"] == "DONE" for r in store.all_results()))
    return warnings


def listeners(root: Path) -> list[int]:
    """Live processes serving the MLflow store under ``root`` (servers this test started)."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["status"] != psutil.STATUS_ZOMBIE and "mlflow" in cmd and str(root.resolve()) in cmd:
            found.append(p.info["pid"])
    return found


def sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.sync", *args], capture_output=True, text=True, timeout=300
    )


def test_parent_children_tags_artifacts_and_steps(mlflow_server, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    store, trials = write_sweep(results_dir, "t-structure", GRID, failed=1)
    store.write(trials[0], make_result(trials[0], steps=True))
    report = store.trial_dir(trials[0].trial_id) / "report"
    report.mkdir()
    (report / "latency.csv").write_text("x,y\n1,2\n")
    assert upload_all(store, mlflow_server.uri, "t-structure") == []

    parent, children = sweep_runs(mlflow_server.uri, "t-structure", "t-structure")
    assert parent["info"]["status"] == "FAILED"  # one trial FAILED
    assert parent["params"]["engine.tp"] == "[1, 2]"
    assert len(children) == 4
    by_trial = {c["tags"]["trial_id"]: c for c in children}
    assert set(by_trial) == {t.trial_id for t in trials}
    for trial in trials:
        tags = by_trial[trial.trial_id]["tags"]
        assert tags["engine"] == "vllm" and tags["model"] == "tiny-llama" and tags["tp"] == str(trial.tp)
        assert tags["workload"] == trial.point.label()
        assert tags["engine_version"] == "0.0-test" and tags["host.hostname"] == "node-a"
        assert tags["host.cpu_model"] == "Test CPU" and tags["host.cpu_count"] == "2"
        assert len(tags["git_commit"].split("+")[0]) == 40
        assert tags["mlflow.runName"] == trial.name
    failed = by_trial[trials[-1].trial_id]
    assert failed["info"]["status"] == "FAILED" and failed["tags"]["status"] == "FAILED"
    assert failed["tags"]["failure_reason"] == "engine_crash" and failed["metrics"] == {}
    done = by_trial[trials[0].trial_id]
    assert done["info"]["status"] == "FINISHED" and done["tags"]["failure_reason"] == ""
    assert done["metrics"]["ttft_p50_ms"] == 10.0 and done["metrics"]["engine_startup_s"] == 1.5
    assert "goodput" not in done["metrics"], "NaN is left out, never logged as 0"
    assert done["params"]["workload.concurrency"] == "1"

    client = MlflowClient(mlflow_server.uri)
    run_id = done["info"]["run_id"]
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "result.json", "requests.parquet", "engine.log", "report"} <= names
    assert [a.path for a in client.list_artifacts(run_id, "report")] == ["report/latency.csv"]
    # Step metrics: sorted by offered rate (0.5, 2, 4) at steps 0, 1, 2; the summary metric is untouched.
    hist = client.get_metric_history(run_id, "steps/ttft_p50_ms")
    assert [(m.step, m.value) for m in hist] == [(0, 5.0), (1, 20.0), (2, 40.0)]
    rates = client.get_metric_history(run_id, "steps/offered_rate")
    assert [(m.step, m.value) for m in rates] == [(0, 0.5), (1, 2.0), (2, 4.0)]
    assert done["tags"]["steps_x"] == "offered_rate"
    # The API directly, on another run: its points out of rate order.
    tracker = Tracker(mlflow_server.uri, "t-structure")
    points = [{"offered_rate": r, "e2e_p99_ms": 100.0 / r} for r in (1.0, 8.0, 2.0)]
    record = RunRecord("t-steps-api", "t-steps-api", True, "", {}, {}, {}, steps=points)
    other = tracker.log_record(parent["info"]["run_id"], "t-structure", record)
    hist = client.get_metric_history(other, "steps/e2e_p99_ms")
    assert sorted((m.step, m.value) for m in hist) == [(0, 100.0), (1, 50.0), (2, 12.5)]
    assert not_uploaded(store) == []


def test_resume_reuses_parent_and_children(mlflow_server, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    store, trials = write_sweep(results_dir, "t-resume", GRID, failed=1)
    upload_all(store, mlflow_server.uri, "t-resume")
    parent, children = sweep_runs(mlflow_server.uri, "t-resume", "t-resume")
    assert parent["info"]["status"] == "FAILED"
    # Rerun: the failed trial is run again and now succeeds; the others are DONE and not rerun.
    store.write(trials[-1], make_result(trials[-1]))
    assert not_uploaded(store) == [trials[-1].trial_id]
    warnings: list[str] = []
    up = Uploader(store, warnings.append)
    up.connect(mlflow_server.uri, "t-resume", store.sweep_meta()["config"], {"preset": "smoke"})
    assert up.parent_id == parent["info"]["run_id"]
    up.upload(trials[-1].trial_id)
    up.finish(True)
    assert warnings == []
    parent2, children2 = sweep_runs(mlflow_server.uri, "t-resume", "t-resume")
    assert parent2["info"]["run_id"] == parent["info"]["run_id"]
    assert parent2["info"]["status"] == "FINISHED"
    assert sorted(c["info"]["run_id"] for c in children2) == sorted(c["info"]["run_id"] for c in children)
    rerun = next(c for c in children2 if c["tags"]["trial_id"] == trials[-1].trial_id)
    assert rerun["info"]["status"] == "FINISHED" and rerun["tags"]["status"] == "DONE"
    assert rerun["tags"]["failure_reason"] == ""


def test_outage_mid_sweep_then_sync_twice(results_dir: Path) -> None:
    """The tool's own local server dies after the first trial; sync (no --uri) restarts it, twice."""
    store, trials = write_sweep(results_dir, "t-outage", GRID)
    server = MLflowServer(results_dir / "mlflow")
    warnings: list[str] = []
    up = Uploader(store, warnings.append)
    try:
        up.connect(server.start(), "smoke", store.sweep_meta()["config"], {"preset": "smoke"})
        assert up.upload(trials[0].trial_id) is not None
    finally:
        server.stop()
    for trial in trials[1:]:
        assert up.upload(trial.trial_id) is None  # the sweep goes on; results stay local
    up.finish(True)
    assert len(warnings) == 1, warnings  # one warning, not one per trial
    assert f"python -m orchestrator.sync {store.sweep_dir}" in warnings[0]
    assert sorted(not_uploaded(store)) == sorted(t.trial_id for t in trials[1:])
    assert "error" in store.upload_state(trials[1].trial_id)

    first = sync(str(store.sweep_dir))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 uploaded, 1 already there, 0 failed" in first.stdout
    again = sync(str(results_dir), "t-outage")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 uploaded, 4 already there, 0 failed" in again.stdout
    assert not_uploaded(store) == []

    server = MLflowServer(results_dir / "mlflow")
    try:
        uri = server.start()
        parent, children = sweep_runs(uri, "smoke", "t-outage")  # asserts exactly one parent
        assert len(children) == 4 and {c["info"]["status"] for c in children} == {"FINISHED"}
        assert parent["info"]["status"] == "FINISHED"
    finally:
        server.stop()
    assert listeners(results_dir) == []


def test_dead_server_from_the_start_then_sync_to_another(mlflow_server, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    store, trials = write_sweep(results_dir, "t-dead", ["tracking.experiment=t-dead", *GRID], failed=1)
    warnings = upload_all(store, f"http://127.0.0.1:{free_port()}", "t-dead")
    assert len(warnings) == 1 and "orchestrator.sync" in warnings[0]
    assert len(not_uploaded(store)) == 4
    for _ in range(2):
        proc = sync(str(store.sweep_dir), "--uri", mlflow_server.uri)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 uploaded, 4 already there" in proc.stdout
    _, children = sweep_runs(mlflow_server.uri, "t-dead", "t-dead")
    assert len(children) == 4
    assert store.upload_state(trials[0].trial_id)["uploaded"] is True


def test_secrets_never_reach_mlflow_or_the_store(mlflow_server, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    overrides = [f"+engine.env.HF_TOKEN={HF_TOKEN}", f"engine.extra_args=[--api-key,{API_KEY}]"]
    overrides.append("engine.tp=[1]")
    store, _ = write_sweep(results_dir, "t-secret", overrides)
    raw_cfg = asdict(load_experiment([f"results_dir={results_dir}", *overrides]))
    assert raw_cfg["engine"]["env"]["HF_TOKEN"] == HF_TOKEN  # planted
    assert upload_all(store, mlflow_server.uri, "t-secret", params=raw_cfg) == []

    parent, children = sweep_runs(mlflow_server.uri, "t-secret", "t-secret")
    assert parent["params"]["engine.env.HF_TOKEN"] == "[REDACTED]"
    assert children and children[0]["params"]["engine.env.HF_TOKEN"] == "[REDACTED]"
    assert children[0]["params"]["engine.extra_args"] == "['--api-key', '[REDACTED]']"
    client = MlflowClient(mlflow_server.uri)
    for run in [parent, *children]:
        dump = json.dumps(run)
        assert HF_TOKEN not in dump and API_KEY not in dump
    downloaded = Path(client.download_artifacts(children[0]["info"]["run_id"], "", str(results_dir / "dl")))
    assert {p.name for p in downloaded.iterdir()} >= {"config.yaml", "result.json", "engine.log"}
    result = json.loads((downloaded / "result.json").read_text())
    assert result["engine_info"]["command"][-2:] == ["--api-key", "[REDACTED]"]
    assert "HF_TOKEN=[REDACTED]" in (downloaded / "engine.log").read_text()
    for root in (results_dir, mlflow_server.root):  # store files, downloads, the server's db and artifacts
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert HF_TOKEN.encode() not in data and API_KEY.encode() not in data, path


def test_comparison_frame_is_the_same_from_store_and_mlflow(mlflow_server, results_dir: Path) -> None:  # type: ignore[no-untyped-def]
    store, trials = write_sweep(results_dir, "t-compare", GRID, failed=1)
    store.write(trials[0], make_result(trials[0], steps=True))
    upload_all(store, mlflow_server.uri, "t-compare")
    local = compare.from_store(results_dir, "t-compare")
    remote = compare.from_mlflow(mlflow_server.uri, "t-compare", "t-compare")
    assert len(local) == 4 and list(local.columns) == list(remote.columns)
    assert {"metrics.ttft_p50_ms", "params.workload.concurrency", "status", "tp"} <= set(local.columns)
    assert not any(c.startswith("metrics.steps/") for c in local.columns)
    pd.testing.assert_frame_equal(local, remote)
    failed = local[local["status"] == "FAILED"]
    assert len(failed) == 1 and failed["metrics.ttft_p50_ms"].isna().all()
    assert failed["failure_reason"].tolist() == ["engine_crash"]


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["plain", "sigint-ignored-at-start"])
def test_ui_serves_a_results_dir_until_ctrl_c(results_dir: Path, sigint_ignored: bool) -> None:
    """Ctrl-C stops it, also when started with SIGINT ignored (a background job of a script)."""
    import urllib.request

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    store, _ = write_sweep(results_dir, "t-ui", ["engine.tp=[1]"])
    (results_dir / "mlflow").mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.ui", str(store.sweep_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ignore_sigint if sigint_ignored else None,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, line + proc.stdout.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as resp:
            assert resp.status == 200
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert listeners(results_dir) == []
