"""Files (a sweep's report) logged as artifacts of an existing MLflow run, for code outside tracking."""

from __future__ import annotations

import os
from collections.abc import Sequence
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
