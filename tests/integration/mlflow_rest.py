"""Read MLflow back over its REST API (what a user's notebook or the UI sees)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any


def _call(uri: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return dict(json.loads(resp.read() or b"{}"))


def sweep_runs(uri: str, experiment: str, sweep_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(parent run, child runs) of a sweep, each as {info, tags, metrics, params} dicts."""
    exp = _call(uri, "experiments/get-by-name?" + urllib.parse.urlencode({"experiment_name": experiment}))
    exp_id = exp["experiment"]["experiment_id"]
    body = {"experiment_ids": [exp_id], "filter": f"tags.sweep_id = '{sweep_id}'", "max_results": 1000}
    runs = [_flat(r) for r in _call(uri, "runs/search", body).get("runs", [])]
    parents = [r for r in runs if r["tags"].get("kind") == "sweep"]
    assert len(parents) == 1, f"expected one parent run, got {len(parents)}"
    parent = parents[0]
    children = [r for r in runs if r["tags"].get("mlflow.parentRunId") == parent["info"]["run_id"]]
    return parent, children


def _flat(run: dict[str, Any]) -> dict[str, Any]:
    data = run.get("data", {})
    return {
        "info": run["info"],
        "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
        "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
        "params": {p["key"]: p["value"] for p in data.get("params", [])},
    }


def artifact_paths(uri: str, run: dict[str, Any], path: str = "") -> list[str]:
    """Every artifact file of a run, recursively (``report/report.html``, ``config.yaml``, ...)."""
    query = {"run_id": run["info"]["run_id"], **({"path": path} if path else {})}
    listing = _call(uri, "artifacts/list?" + urllib.parse.urlencode(query))
    out: list[str] = []
    for f in listing.get("files", []):
        if f.get("is_dir"):
            out += artifact_paths(uri, run, f["path"])
        else:
            out.append(f["path"])
    return out
