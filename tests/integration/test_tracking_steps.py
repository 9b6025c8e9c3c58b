"""Rate-sweep steps reach a real MLflow server as ``steps/<metric>`` histories, step = index."""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.load import LoadSpec
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.store.results import ResultsStore
from orchestrator.tracking.run_record import record_of
from orchestrator.tracking.tracker import Tracker
from tests.integration.mlflow_rest import sweep_runs

pytestmark = pytest.mark.integration


def _history(uri: str, run_id: str, key: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"run_id": run_id, "metric_key": key})
    with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/metrics/get-history?{query}", timeout=30) as resp:
        return list(json.loads(resp.read()).get("metrics", []))


def test_steps_logged_per_offered_rate(mlflow_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    point = LoadSpec(
        name="rate_sweep", api="completions", concurrency=0, input_len=8, output_len=4, num_requests=4,
        warmup_requests=0, ignore_eos=True, temperature=0.0, timeout_s=5.0, seed=0, max_error_rate=0.05,
        sweep_kind="linear", sweep_num_rates=2, sweep_min_rate=1.0,
    )  # fmt: skip
    trial = Trial("t-steps", "g", 1, EngineConfig(), ModelConfig(), point)
    steps = [
        {"step": 0.0, "offered_rate": math.inf, "request_throughput": 9.0},
        {"step": 1.0, "offered_rate": 1.0, "request_throughput": 1.0},
        {"step": 2.0, "offered_rate": 9.0, "request_throughput": 7.5},
    ]
    result = TrialResult(
        "t-steps", Status.DONE, metrics={"request_throughput": 9.0, "num_steps": 3}, steps=steps
    )
    store = ResultsStore(tmp_path, "s-steps")
    store.write(trial, result)
    assert store.read("t-steps")["steps"][2]["offered_rate"] == 9.0  # type: ignore[index]

    tracker = Tracker(mlflow_server.uri, "steps")
    parent = tracker.parent_run("s-steps", {}, {})
    run_id = tracker.log_record(parent, "s-steps", record_of(store.trial("t-steps")))
    _, (child,) = sweep_runs(mlflow_server.uri, "steps", "s-steps")
    assert child["metrics"]["request_throughput"] == 9.0  # the headline is not overwritten by steps
    rates = _history(mlflow_server.uri, run_id, "steps/offered_rate")
    assert sorted((m["step"], m["value"]) for m in rates) == [
        (0, 1.0),
        (1, 9.0),
    ]  # sorted by rate; inf not logged
    tput = _history(mlflow_server.uri, run_id, "steps/request_throughput")
    assert sorted((int(m["step"]), m["value"]) for m in tput) == [(0, 1.0), (1, 7.5), (2, 9.0)]
    assert child["params"]["workload.sweep_kind"] == "linear" and "workload.rate" not in child["params"]
