"""The planner run logs its ratios and report to a real MLflow server when ``tracking.uri`` is set."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from orchestrator.cli.app import main
from tests.integration.mlflow_rest import sweep_runs

pytestmark = pytest.mark.integration


def test_planner_logs_to_mlflow(mlflow_server, results_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    rc = main(
        [
            "+exp=planner_vs_wlb",
            f"results_dir={results_dir}",
            "sweep_id=it-planner",
            f"tracking.uri={mlflow_server.uri}",
            "tracking.experiment=it-planner",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "MLflow: " in out and float(out.strip().splitlines()[-1]) >= 1.0
    parent, children = sweep_runs(mlflow_server.uri, "it-planner", "it-planner")
    assert children == []
    assert parent["info"]["status"] == "FINISHED"
    assert parent["metrics"]["ratio_geomean"] == pytest.approx(float(out.strip().splitlines()[-1]), abs=1e-4)
    assert all(parent["metrics"][f"batch{i}_ratio"] >= 1.0 for i in range(3))
    query = urllib.parse.urlencode({"run_id": parent["info"]["run_id"], "path": "report"})
    with urllib.request.urlopen(
        f"{mlflow_server.uri}/api/2.0/mlflow/artifacts/list?{query}", timeout=30
    ) as r:
        files = {Path(f["path"]).name for f in json.loads(r.read()).get("files", [])}
    assert files == {"planner_vs_wlb.json", "planner_vs_wlb.md"}
