"""Files (a sweep's report) and summary metrics logged on an existing MLflow run, for code outside
tracking."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from engines.base import http_get


def server_answers(uri: str) -> bool:
    """The tracking server's ``/health`` is 200."""
    return http_get(f"{uri}/health")[0] == 200


def upload_files(uri: str, run_id: str, files: Sequence[Path], artifact_path: str) -> str | None:
    """Log ``files`` under ``artifact_path`` on run ``run_id``; None, or what went wrong."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        for path in files:
            client.log_artifact(run_id, str(path), artifact_path=artifact_path)
    except (MlflowException, OSError) as exc:
        return str(exc)
    return None


def log_summary(uri: str, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, str]) -> str | None:
    """Summary metrics (step 0) and tags on run ``run_id`` in one request; None, or what went wrong."""
    import time

    from mlflow.entities import Metric, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    now = int(time.time() * 1000)
    client = MlflowClient(tracking_uri=uri)
    try:
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
    except (MlflowException, OSError) as exc:
        return str(exc)
    return None
