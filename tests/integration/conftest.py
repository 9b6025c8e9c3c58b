"""Integration fixtures: the session's finished smoke sweep (``tests/integration/smoke.py``)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.smoke import SmokeSweep, run_smoke


@pytest.fixture(scope="session")
def smoke_sweep(mlflow_server, tmp_path_factory: pytest.TempPathFactory) -> SmokeSweep:  # type: ignore[no-untyped-def]
    """``python -m orchestrator`` with the default experiment, once per session."""
    return run_smoke(tmp_path_factory.mktemp("smoke") / "results", mlflow_server.uri, uuid.uuid4().hex)
