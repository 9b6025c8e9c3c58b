"""Shared fixtures: a real MLflow server on 127.0.0.1, and a check for leftover processes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orchestrator.tracking import MLflowServer

SERVICE_PATTERNS = ("vllm.entrypoints", "engines.watchdog", "raylet", "gcs_server", "mlflow", "ray::")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    server = MLflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


def service_processes(since: float, exclude: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Processes matching our services started after ``since`` (excluding ``exclude`` pids)."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "create_time", "status"]):
        try:
            if p.info["pid"] in exclude or p.info["create_time"] < since or p.info["pid"] == os.getpid():
                continue
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(pat in cmd for pat in SERVICE_PATTERNS):
            found.append(f"{p.info['pid']}: {cmd[:160]}")
    return found


def wait_no_services(since: float, exclude: set[int], timeout_s: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    left = service_processes(since, exclude)
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = service_processes(since, exclude)
    return left


def tree_pids(pid: int | None) -> set[int]:
    if pid is None:
        return set()
    try:
        proc = psutil.Process(pid)
        return {pid, *(c.pid for c in proc.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"
