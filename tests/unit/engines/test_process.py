"""The engine environment's first variable (``engines.process.engine_environment``)."""

from __future__ import annotations

from pathlib import Path

from engines.process import ENGINE_LOG_ENV, engine_environment


def test_ours_comes_first_and_the_rest_keeps_its_order() -> None:
    env = engine_environment({"OMP_NUM_THREADS": "4", "PATH": "/bin", ENGINE_LOG_ENV: "old"}, Path("/r/l"))
    assert list(env) == [ENGINE_LOG_ENV, "OMP_NUM_THREADS", "PATH"]
    assert env[ENGINE_LOG_ENV] == "/r/l" and env["OMP_NUM_THREADS"] == "4"
