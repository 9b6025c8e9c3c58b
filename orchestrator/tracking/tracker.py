"""MLflow, driver side: one experiment per preset, one parent run per sweep, one child run per trial.

Only the driver process talks to MLflow. The parent run is found again by its ``sweep_id`` tag
(``kind=sweep``) on rerun or sync; child runs by ``trial_id``, all of a sweep's children with one
search when the parent is opened, so logging a trial costs: create run (tags included), one or two
``log_batch`` calls (params, summary and step metrics), one upload per artifact, and the terminate
call. Every MLflow or network failure surfaces as ``TrackingError``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.errors import TrackingError
from orchestrator.store.redact import Redactor
from orchestrator.tracking.run_record import RunRecord, flatten, numeric_metrics, step_points

__all__ = ["ChildRun", "Tracker", "flatten", "numeric_metrics"]

# MLflow's log_batch limits: 1000 metrics, 100 params, 100 tags, 1000 entities in all.
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
TERMINAL = ("FINISHED", "FAILED", "KILLED")
# MLflow 3's UI opens an experiment of this kind on its runs table (not the GenAI traces overview).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
# MLflow 3.17's UI ignores that tag: the sidebar's workflow switch (GenAI | Model training, kept in
# the browser's localStorage, GenAI at first) decides, and a URL's ``workflowType`` overrides it. The
# links the tool prints carry it, so a first visit opens on the runs table, not the traces overview.
UI_QUERY = "?workflowType=machine_learning"


@contextlib.contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """MLflow, HTTP and socket errors → TrackingError (the sweep catches that one and goes on)."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, requests.RequestException, OSError) as exc:
        raise TrackingError(f"MLflow {what} failed: {str(exc).splitlines()[0][:300]}") from exc


@dataclass(frozen=True)
class ChildRun:
    """What the server already has of a trial."""

    run_id: str
    status: str
    ended_at: str
    artifact_uri: str

    def has(self, record: RunRecord) -> bool:
        """True when this run holds ``record``'s attempt completely (terminated after its artifacts)."""
        return self.status in TERMINAL and self.ended_at == record.ended_at


class Tracker:
    """Parent run per sweep, child run per trial, via one MlflowClient (no global state)."""

    def __init__(self, uri: str, experiment: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        self.children: dict[str, ChildRun] = {}
        with mlflow_errors(f"experiment lookup on {uri}"):
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                self.experiment_id = self.client.create_experiment(experiment, tags=EXPERIMENT_TAGS)
            else:
                self.experiment_id = exp.experiment_id
                for key, value in EXPERIMENT_TAGS.items():  # made before the tag, or by hand: set once
                    if key not in exp.tags:
                        self.client.set_experiment_tag(self.experiment_id, key, value)

    def parent_run(self, sweep_id: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """The sweep's parent run: reused on rerun (found by tag), else created. Loads its children."""
        redact = Redactor.for_config(params, tags, env=os.environ)
        with mlflow_errors("parent run"):
            found = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.sweep_id = '{sweep_id}' and tags.kind = 'sweep'",
                max_results=1,
            )
            if found:
                run_id = str(found[0].info.run_id)
                self.client.update_run(run_id, status="RUNNING")
            else:
                all_tags = redact.obj({**tags, "sweep_id": sweep_id, "kind": "sweep"})
                run = self.client.create_run(self.experiment_id, run_name=sweep_id, tags=all_tags)
                run_id = str(run.info.run_id)
                self._log(run_id, params=redact.obj(flatten(params)))
            self.children = self.search_children(sweep_id)
        return run_id

    def search_children(self, sweep_id: str) -> dict[str, ChildRun]:
        """trial_id → child run, for every trial run of the sweep (one paged search)."""
        out: dict[str, ChildRun] = {}
        token = None
        with mlflow_errors("child run search"):
            while True:
                page = self.client.search_runs(
                    [self.experiment_id],
                    filter_string=f"tags.sweep_id = '{sweep_id}' and tags.kind = 'trial'",
                    max_results=1000,
                    page_token=token,
                )
                for run in page:
                    tags = run.data.tags
                    info = run.info
                    child = ChildRun(info.run_id, info.status, tags.get("ended_at", ""), info.artifact_uri)
                    out.setdefault(tags["trial_id"], child)
                token = page.token
                if not token:
                    return out

    def log_record(self, parent_id: str, sweep_id: str, record: RunRecord) -> str:
        """Log one stored trial as a child run (re-using its run if the sweep has one). Returns run id."""
        redact = Redactor()  # the store is already redacted; patterns are checked once more here
        tags = redact.obj({**record.tags, "sweep_id": sweep_id, "mlflow.parentRunId": parent_id})
        metrics = [(k, v, 0) for k, v in record.metrics.items()]
        metrics += [(k, v, step) for step, m in step_points(record.steps) for k, v in m.items()]
        metrics += record.series  # an aggregate's per-repeat values, step = repeat index
        with mlflow_errors(f"logging trial {record.trial_id}"):
            existing = self.children.get(record.trial_id)
            if existing is None:
                run = self.client.create_run(self.experiment_id, run_name=record.name, tags=tags)
                run_id, artifact_uri = str(run.info.run_id), str(run.info.artifact_uri)
                self._log(run_id, params=redact.obj(record.params), metrics=metrics)
            else:
                run_id, artifact_uri = existing.run_id, existing.artifact_uri
                self.client.update_run(run_id, status="RUNNING")
                self._log(run_id, params=redact.obj(record.params), metrics=metrics, tags=tags)
            self._upload(artifact_uri, record)
            status = "FINISHED" if record.ok else "FAILED"
            self.client.set_terminated(run_id, status=status)
        self.children[record.trial_id] = ChildRun(run_id, status, record.ended_at, artifact_uri)
        return run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Summary metrics (step 0) on a run, e.g. the planner's ratios."""
        with mlflow_errors("metrics"):
            self._log(run_id, metrics=[(k, float(v), 0) for k, v in metrics.items()])

    def log_files(self, run_id: str, files: Sequence[Path], artifact_path: str | None = None) -> None:
        """Files as artifacts of a run, under ``artifact_path`` (e.g. a report; None: the root)."""
        with mlflow_errors("artifacts"):
            for path in files:
                self.client.log_artifact(run_id, str(path), artifact_path)

    def finish(self, run_id: str, ok: bool) -> None:
        with mlflow_errors("finishing the sweep run"):
            self.client.set_terminated(run_id, status="FINISHED" if ok else "FAILED")

    def run_url(self, run_id: str) -> str:
        return f"{self.uri}/#/experiments/{self.experiment_id}/runs/{run_id}{UI_QUERY}"

    def _upload(self, artifact_uri: str, record: RunRecord) -> None:
        """Upload straight to the run's artifact location (known from create/search: no get_run call)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
        for path in record.artifacts:
            repo.log_artifact(str(path))
        if record.report_dir is not None:
            repo.log_artifacts(str(record.report_dir), "report")

    def _log(
        self,
        run_id: str,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[tuple[str, float, int]] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """One ``log_batch`` call when it fits (it does for a trial), chunked to MLflow's limits.

        ``metrics`` are (key, value, step): the summary at step 0, rate-sweep points at their step.
        """
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        ms = [Metric(k, v, now, step) for k, v, step in metrics]
        ps = [Param(k, v) for k, v in (params or {}).items()]
        ts = [RunTag(k, v) for k, v in (tags or {}).items()]
        while ms or ps or ts:
            p, ps = ps[:MAX_BATCH_PARAMS], ps[MAX_BATCH_PARAMS:]
            t, ts = ts[:MAX_BATCH_TAGS], ts[MAX_BATCH_TAGS:]
            room = MAX_BATCH_METRICS - len(p) - len(t)
            m, ms = ms[:room], ms[room:]
            self.client.log_batch(run_id, metrics=m, params=p, tags=t)
