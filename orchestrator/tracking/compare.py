"""A sweep's trials as one pandas DataFrame, from the local store or from MLflow (same columns).

One row per trial, sorted by name then trial id. Columns: ``trial_id``, ``name``, ``status``,
``failure_reason``, ``engine``, ``model``, ``tp`` (int), ``workload``, then ``params.<a.b.c>``
(strings, the flattened resolved trial config) and ``metrics.<name>`` (floats; NaN where a trial
has none, e.g. a FAILED trial). Step metrics (``steps/...``) are per-step series, not columns.

    from orchestrator.tracking.compare import from_store, from_mlflow
    df = from_store("results", "smoke-20260101-120000")
    df = from_mlflow("http://127.0.0.1:5000", "smoke", "smoke-20260101-120000")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.core.errors import TrackingError
from orchestrator.store.results import ResultsStore
from orchestrator.tracking.run_record import STEP_PREFIX, record_of

ID_COLUMNS = ("trial_id", "name", "status", "failure_reason", "engine", "model", "tp", "workload")


def _row(name: str, tags: Mapping[str, str], params: Mapping[str, str], metrics: Mapping[str, float]) -> dict:
    row: dict[str, Any] = {
        "trial_id": tags.get("trial_id", ""),
        "name": name,
        "status": tags.get("status", ""),
        "failure_reason": tags.get("failure_reason", ""),
        "engine": tags.get("engine", ""),
        "model": tags.get("model", ""),
        "tp": int(tags["tp"]) if tags.get("tp", "").isdigit() else None,
        "workload": tags.get("workload", ""),
    }
    row.update({f"params.{k}": str(v) for k, v in params.items()})
    row.update({f"metrics.{k}": float(v) for k, v in metrics.items() if not k.startswith(STEP_PREFIX)})
    return row


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows → DataFrame with the id columns first, then sorted params and metrics columns."""
    df = pd.DataFrame(list(rows))
    if df.empty:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    rest = sorted(c for c in df.columns if c not in ID_COLUMNS)
    df = df[[*ID_COLUMNS, *rest]].sort_values(["name", "trial_id"]).reset_index(drop=True)
    metric_cols = [c for c in df.columns if c.startswith("metrics.")]
    df[metric_cols] = df[metric_cols].astype(float)
    df["tp"] = df["tp"].astype("Int64")
    return df


def from_store(results_dir: str | Path, sweep_id: str) -> pd.DataFrame:
    """The sweep's trials as recorded in ``<results_dir>/<sweep_id>/``."""
    store = ResultsStore(Path(results_dir), sweep_id)
    meta = store.sweep_meta()
    rows = []
    for trial in store.load().trials:
        rec = record_of(trial, meta)
        rows.append(_row(rec.name, rec.tags, rec.params, rec.metrics))
    return frame(rows)


def from_mlflow(uri: str, experiment: str, sweep_id: str) -> pd.DataFrame:
    """The sweep's child runs on the tracking server ``uri`` (latest value of each metric)."""
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking.tracker import mlflow_errors

    client = MlflowClient(tracking_uri=uri)
    rows = []
    with mlflow_errors(f"reading sweep {sweep_id}"):
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise TrackingError(f"no experiment '{experiment}' on {uri}")
        token = None
        while True:
            page = client.search_runs(
                [exp.experiment_id],
                filter_string=f"tags.sweep_id = '{sweep_id}' and tags.kind = 'trial'",
                max_results=1000,
                page_token=token,
            )
            for run in page:
                d = run.data
                rows.append(_row(str(run.info.run_name), d.tags, d.params, d.metrics))
            token = page.token
            if not token:
                break
    return frame(rows)
