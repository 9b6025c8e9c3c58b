"""Shared fixtures: a real MLflow server on 127.0.0.1, and a check for leftover processes."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orchestrator.tracking.server import MLflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    server = MLflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


def tagged_env(tag: str) -> dict[str, str]:
    """Environment for a subprocess under test: every process it starts inherits the tag."""
    return {**os.environ, "ORCH_TEST_TAG": tag}


def tagged_processes(tag: str) -> list[str]:
    """Live processes (ours: Ray, engines, watchdogs, MLflow) that carry ``ORCH_TEST_TAG=tag``."""
    needle = f"ORCH_TEST_TAG={tag}".encode()
    found = []
    for p in psutil.process_iter(["pid", "status"]):
        if p.info["pid"] == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            with open(f"/proc/{p.info['pid']}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            cmd = " ".join(p.cmdline())
        except (OSError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found.append(f"{p.info['pid']}: {cmd[:160]}")
    return found


def wait_no_tagged(tag: str, timeout_s: float = 30.0, matching: tuple[str, ...] = ()) -> list[str]:
    """Wait until no process carries the tag (with ``matching``: none whose entry contains one of
    those strings); returns what is left (empty when clean)."""

    def left() -> list[str]:
        return [e for e in tagged_processes(tag) if not matching or any(m in e for m in matching)]

    deadline = time.monotonic() + timeout_s
    now = left()
    while now and time.monotonic() < deadline:
        time.sleep(1)
        now = left()
    return now


def kill_tagged(tag: str) -> None:
    """SIGKILL every live process carrying the tag (processes this test's subprocess started)."""
    for entry in tagged_processes(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(entry.split(":", 1)[0]), signal.SIGKILL)


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"
