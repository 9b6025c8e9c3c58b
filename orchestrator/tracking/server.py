"""The local ``mlflow server`` the tool starts: 127.0.0.1, sqlite backend, artifacts under the results dir.

Tuned so that a logging call takes milliseconds (see ``benchmarks/mlflow_per_trial.py``):
- ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: MLflow 3 otherwise starts a job runner and seven huey
  consumers (~50 threads) that poll the database; on a small machine they alone push every request
  from ~1 ms to ~40 ms and double the start-up time. Nothing here uses server-side jobs.
- the sqlite file in WAL mode (set once on the file; it persists): one fsync per commit instead of
  a rollback journal's several, and readers (the UI) never block the writer.
- one uvicorn worker: sqlite has one writer anyway, and a single process keeps its caches warm.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from engines.base import http_get
from engines.process import ManagedProcess, free_port, tail
from orchestrator.core.errors import EngineError, TrackingError

TUNED_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}  # loopback only


def enable_wal(db_path: Path) -> None:
    """Put the sqlite database in WAL mode (creating the file if needed); persistent per file."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


class MLflowServer:
    """``mlflow server`` on 127.0.0.1 with a sqlite backend and artifacts under ``root``.

    ``tuned=False`` starts it with MLflow's defaults (for the benchmark's comparison only).
    """

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, tuned: bool = True) -> None:
        self.root = Path(root)
        self.host = host
        self.port = port or free_port(host)
        self.tuned = tuned
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.root / "mlflow.db"

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "mlflow", "server",
            "--host", self.host,
            "--port", str(self.port),
            "--backend-store-uri", f"sqlite:///{self.db_path.resolve()}",
            "--artifacts-destination", str((self.root / "artifacts").resolve()),
            "--workers", "1" if self.tuned else "4",
        ]  # fmt: skip

    def start(self, timeout_s: float = 90.0) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **NO_TELEMETRY}
        if self.tuned:
            enable_wal(self.db_path)
            env.update(TUNED_ENV)
        log = self.root / "mlflow-server.log"
        self.process = ManagedProcess(self.argv(), log, env=env, term_grace_s=10)
        self.process.start()
        try:
            self.process.wait_ready(lambda: http_get(f"{self.uri}/health")[0] == 200, timeout_s)
        except EngineError as exc:
            self.stop()
            raise TrackingError(
                f"MLflow server did not start on {self.uri} (tracking.startup_timeout_s={timeout_s}): {exc}\n"
                f"{tail(log)}"
            ) from exc
        return self.uri

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
