"""An engine whose port is answered by another server must fail, never be measured.

Readiness (``/health``, ``/v1/models``) answers the same for any server of the model: when the
port the runner chose is taken before the engine binds it (another process grabbed it), the other
server would pass for the engine. Here a fake OpenAI server already holds the port the runner is
given; the real vLLM engine cannot bind it, and the start must fail as ``port_in_use``, naming the
process that answered, before any point runs. (The actor's start again on fresh ports, after a
bind that failed: tests/integration/test_tgi_standin.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import orchestrator.execution.runner as runner_mod
from engines.process import free_port
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import EngineError
from orchestrator.core.status import FailureReason

SERVER = Path(__file__).resolve().parents[2] / "engines" / "standins" / "fake_openai_server.py"


def test_readiness_answered_by_another_server_fails_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    other = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                assert other.poll() is None and time.monotonic() < deadline, "fake server did not start"
                time.sleep(0.1)
        monkeypatch.setattr(runner_mod, "free_port", lambda host="127.0.0.1": port)  # the taken port
        runner = runner_mod.EngineRunner(EngineConfig(name="vllm"), ModelConfig(name="tiny"), tp=1,
                                         device="cpu", work_dir=tmp_path)  # fmt: skip
        try:
            with pytest.raises(EngineError) as err:
                runner.start([])
        finally:
            runner.stop()
        assert err.value.reason is FailureReason.PORT_IN_USE, str(err.value)
        assert f"port {port} answered readiness, but the process listening on it is pid {other.pid}" in str(
            err.value
        )
        assert "fake_openai_server.py" in str(err.value)
        assert not runner.process or not runner.process.alive()  # the engine it started is stopped
    finally:
        other.terminate()
        other.wait(10)
