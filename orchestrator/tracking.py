"""MLflow: the local server the tool starts, and the driver-side tracker (parent + child runs).

Only the driver process talks to MLflow. One experiment per preset, one parent run per sweep
(found again by its ``sweep_id`` tag on rerun), one child run per trial (found again by ``trial_id``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engines.base import http_get
from engines.process import ManagedProcess, free_port, tail
from orchestrator.errors import EngineError, TrackingError
from orchestrator.trial import Status, Trial, TrialResult

MAX_PARAM_LEN = 500


class MLflowServer:
    """``mlflow server`` on 127.0.0.1 with a sqlite backend and artifacts under ``root``."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.host = host
        self.port = port or free_port(host)
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 90.0) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "mlflow", "server",
            "--host", self.host,
            "--port", str(self.port),
            "--backend-store-uri", f"sqlite:///{(self.root / 'mlflow.db').resolve()}",
            "--artifacts-destination", str((self.root / "artifacts").resolve()),
            "--workers", "1",
        ]  # fmt: skip
        self.process = ManagedProcess(argv, self.root / "mlflow-server.log", term_grace_s=10)
        self.process.start()
        try:
            self.process.wait_ready(lambda: http_get(f"{self.uri}/health")[0] == 200, timeout_s)
        except EngineError as exc:
            self.stop()
            raise TrackingError(
                f"MLflow server did not start on {self.uri} (tracking.startup_timeout_s={timeout_s}): {exc}\n"
                f"{tail(self.root / 'mlflow-server.log')}"
            ) from exc
        return self.uri

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config → ``a.b.c`` params (strings, truncated to MLflow's limit)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = str(v)[:MAX_PARAM_LEN]
    return out


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Finite numeric metrics only: NaN (undefined) is left out, never logged as 0."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or (isinstance(v, int | float) and math.isfinite(float(v))):
            out[k] = float(v)
    return out


class Tracker:
    """Parent run per sweep, child run per trial, via one MlflowClient (no global state)."""

    def __init__(self, uri: str, experiment: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(experiment)

    def parent_run(self, sweep_id: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """The sweep's parent run: reused on rerun (found by tag), else created."""
        found = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.sweep_id = '{sweep_id}' and tags.kind = 'sweep'"
        )
        if found:
            run_id = str(found[0].info.run_id)
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(
            self.experiment_id, run_name=sweep_id, tags={**tags, "sweep_id": sweep_id, "kind": "sweep"}
        )
        self._log(run.info.run_id, params=flatten(params))
        return str(run.info.run_id)

    def log_trial(
        self, parent_id: str, sweep_id: str, trial: Trial, result: TrialResult, trial_dir: Path
    ) -> str:
        run_id = self._child(parent_id, sweep_id, trial)
        tags = {
            "status": str(result.status),
            "failure_reason": str(result.reason) if result.reason else "",
            "engine_version": str(result.engine_info.get("engine_version", "")),
            "gpu_ids": ",".join(str(g) for g in result.engine_info.get("gpu_ids", [])),
        }
        metrics = numeric_metrics(result.metrics)
        if "startup_s" in result.engine_info:
            metrics["engine_startup_s"] = float(result.engine_info["startup_s"])
        self._log(run_id, params=flatten(trial.resolved()), metrics=metrics, tags=tags)
        for i, step in enumerate(result.steps):  # rate-sweep steps / SLA probes, as "step.<metric>"
            step_metrics = {f"step.{k}": v for k, v in numeric_metrics(step).items()}
            self._log(run_id, metrics=step_metrics, step=i)
        for name in ("config.yaml", "result.json", "requests.parquet", "engine.log"):
            if (trial_dir / name).exists():
                self.client.log_artifact(run_id, str(trial_dir / name))
        self.client.set_terminated(run_id, status="FINISHED" if result.status == Status.DONE else "FAILED")
        return run_id

    def finish(self, run_id: str, ok: bool) -> None:
        self.client.set_terminated(run_id, status="FINISHED" if ok else "FAILED")

    def run_url(self, run_id: str) -> str:
        return f"{self.uri}/#/experiments/{self.experiment_id}/runs/{run_id}"

    def _child(self, parent_id: str, sweep_id: str, trial: Trial) -> str:
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.trial_id = '{trial.trial_id}' and tags.sweep_id = '{sweep_id}'",
        )
        if found:
            return str(found[0].info.run_id)
        tags = {
            "mlflow.parentRunId": parent_id,
            "sweep_id": sweep_id,
            "trial_id": trial.trial_id,
            "kind": "trial",
            "engine": trial.engine.name,
            "model": trial.model.name,
            "tp": str(trial.tp),
            "workload": trial.point.label(),
        }
        return str(self.client.create_run(self.experiment_id, run_name=trial.name, tags=tags).info.run_id)

    def _log(
        self,
        run_id: str,
        params: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int = 0,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, step) for k, v in (metrics or {}).items()],
            params=[Param(k, v) for k, v in (params or {}).items()],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )
