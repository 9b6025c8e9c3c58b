"""A sweep's trials as one pandas DataFrame, from the local store or from MLflow (same columns).

One row per trial, sorted by name then trial id. Columns: ``trial_id``, ``name``, ``status``,
``failure_reason``, ``engine``, ``model``, ``tp`` (int), ``workload``, then ``config_id`` (the same
for every repeat of a configuration), ``repeat`` (its index; <NA> without repeats), ``aggregate``
(True for a configuration's mean over its repeats), then ``params.<a.b.c>`` (strings, the flattened
resolved trial config) and ``metrics.<name>`` (floats; NaN where a trial has none, e.g. a FAILED
trial). Step metrics (``steps/...``, ``repeats/...``) are per-step series, not columns.

:func:`compare` gives the ratio of a metric between two selections of runs (single runs and
repeats, never aggregates) with its bootstrap interval, the permutation test's p-value and whether
the difference is significant at the level; :func:`ratios` does it per cell of a grid.

    from orchestrator.tracking.compare import from_store, from_mlflow
    df = from_store("results", "smoke-20260101-120000")
    df = from_mlflow("http://127.0.0.1:5000", "smoke", "smoke-20260101-120000")
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.core.errors import TrackingError
from orchestrator.store.results import ResultsStore
from orchestrator.tracking.run_record import REPEAT_PREFIX, STEP_PREFIX, record_of
from workloads.stats import DEFAULT_LEVEL, Interval, permutation_p_value, ratio_ci, ratio_text, significant

ID_COLUMNS = ("trial_id", "name", "status", "failure_reason", "engine", "model", "tp", "workload")
REPEAT_COLUMNS = ("config_id", "repeat", "aggregate")


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
        "config_id": tags.get("config_id") or tags.get("trial_id", ""),
        "repeat": int(tags["repeat"]) if tags.get("repeat", "").isdigit() else None,
        "aggregate": tags.get("aggregate") == "true",
    }
    row.update({f"params.{k}": str(v) for k, v in params.items()})
    series = (STEP_PREFIX, REPEAT_PREFIX)
    row.update({f"metrics.{k}": float(v) for k, v in metrics.items() if not k.startswith(series)})
    return row


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows → DataFrame with the id columns first, then sorted params and metrics columns."""
    df = pd.DataFrame(list(rows))
    if df.empty:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    rest = sorted(c for c in df.columns if c not in (*ID_COLUMNS, *REPEAT_COLUMNS))
    df = df[[*ID_COLUMNS, *REPEAT_COLUMNS, *rest]].sort_values(["name", "trial_id"]).reset_index(drop=True)
    metric_cols = [c for c in df.columns if c.startswith("metrics.")]
    df[metric_cols] = df[metric_cols].astype(float)
    df["tp"] = df["tp"].astype("Int64")
    df["repeat"] = df["repeat"].astype("Int64")
    df["aggregate"] = df["aggregate"].astype(bool)
    return df


def from_store(results_dir: str | Path, sweep_id: str) -> pd.DataFrame:
    """The sweep's trials as recorded in ``<results_dir>/<sweep_id>/``."""
    store = ResultsStore(Path(results_dir), sweep_id)
    meta = store.sweep_meta()
    rows = []
    sweep = store.load()
    for trial in [*sweep.trials, *sweep.aggregates]:
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


@dataclass(frozen=True)
class Comparison:
    """mean(a) / mean(b) of one metric over two selections of runs, with its interval and p-value."""

    metric: str
    ratio: Interval
    p_value: float
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        """The interval excludes 1 (at least two runs on each side)."""
        return significant(self.ratio)

    def text(self) -> str:
        """``1.234 ± 0.056``, ``(n.s.)`` appended when not significant at the level."""
        return ratio_text(self.ratio)


def samples(df: pd.DataFrame, metric: str, where: Mapping[str, Any]) -> list[float]:
    """The metric's finite values over the runs (single runs and repeats, not aggregates) whose
    columns equal ``where`` (``{"engine": "vllm", "workload": "c4-in64-out32"}``)."""
    col = metric if metric.startswith("metrics.") else f"metrics.{metric}"
    if df.empty or col not in df.columns:
        return []
    rows = df[~df["aggregate"]] if "aggregate" in df.columns else df
    for key, value in where.items():
        rows = rows[rows[key].astype(str) == str(value)]
    return [float(v) for v in rows[col] if math.isfinite(float(v))]


def compare(
    df: pd.DataFrame,
    metric: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Comparison:
    """The ratio of ``metric`` between the runs selected by ``a`` and by ``b`` (see :func:`samples`)."""
    xs, ys = samples(df, metric, a), samples(df, metric, b)
    return Comparison(metric, ratio_ci(xs, ys, level, seed=seed), permutation_p_value(xs, ys, seed=seed),
                      len(xs), len(ys))  # fmt: skip


def ratios(
    df: pd.DataFrame,
    metric: str,
    by: str,
    a: Any,
    b: Any,
    on: Sequence[str] = ("workload", "tp"),
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> pd.DataFrame:
    """``by == a`` over ``by == b`` per cell of ``on`` (e.g. vLLM / TGI per workload and TP): one row
    per cell both have, with ``ratio``, ``ci_low``, ``ci_high``, ``n_a``, ``n_b``, ``p_value``,
    ``significant`` and ``text``."""
    rows = []
    runs = df[~df["aggregate"]] if "aggregate" in df.columns else df
    cells = runs[list(on)].drop_duplicates().itertuples(index=False, name=None)
    for cell in cells:
        where = dict(zip(on, cell, strict=True))
        c = compare(df, metric, {**where, by: a}, {**where, by: b}, level, seed)
        if c.n_a and c.n_b:
            rows.append({**where, "ratio": c.ratio.value, "ci_low": c.ratio.low, "ci_high": c.ratio.high,
                         "n_a": c.n_a, "n_b": c.n_b, "p_value": c.p_value, "significant": c.significant,
                         "text": c.text()})  # fmt: skip
    return pd.DataFrame(rows)
