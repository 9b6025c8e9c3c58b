"""The live view under a pseudo-terminal: a short command-engine sweep (the sleeper stand-in) with
the tool's own MLflow server, as a new user runs it from a shell."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from orchestrator.store.results import ResultsStore
from tests.conftest import tagged_env, wait_no_tagged
from tests.integration.mlflow_rest import artifact_paths, sweep_runs

pytestmark = pytest.mark.integration

SLEEPER = Path(__file__).parents[2] / "engines" / "standins" / "sleeper.py"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\r")


def run_in_pty(
    argv: list[str], env: dict[str, str], timeout_s: float, answer: tuple[str, bytes]
) -> tuple[int, str]:
    """Run ``argv`` on a 160x40 pseudo-terminal (stdin, stdout, stderr); when the output shows
    ``answer[0]``, type ``answer[1]``. Returns the exit code and everything it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    answered = False
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
                if not answered and answer[0] in ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")):
                    os.write(master, answer[1])
                    answered = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_live_view_shows_instance_stages_and_keeps_the_link_alive(results_dir: Path, tag: str) -> None:
    command = f"{{python}} {SLEEPER} 3 {{metrics_file}} {{tp}} {{trial_id}} -"
    argv = [
        sys.executable, "-m", "orchestrator",
        "engine=command", f"engine.command='{command}'", "engine.tp=[1]", "workload.concurrency=[1,2]",
        f"results_dir={results_dir}", "sweep_id=live", "tracking.experiment=it-live",
    ]  # fmt: skip
    env = {**tagged_env(tag), "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    env.pop("NO_COLOR", None)
    code, raw = run_in_pty(argv, env, 240, ("press Enter", b"\n"))
    out = ANSI.sub("", raw)
    assert code == 0, out[-4000:]
    assert "\x1b[" in raw, "a terminal gets the redrawn live view"
    # the instance's line went through its stages, and the overall bar counted the trials
    assert "command tp1 tiny-llama" in out
    for stage in ("measuring point 1/2", "measuring point 2/2", "DONE 2/2"):
        assert stage in out, stage
    assert re.search(r"2/2 trials · \S+ elapsed · ETA", out), out[-3000:]
    assert "DONE command-tp1-c1-in64-out32" in out and "DONE command-tp1-c2-in64-out32" in out
    # nothing of Ray's own output without --verbose
    for noise in ("Token authentication", "Started a local Ray instance", "(raylet)", "(EngineActor"):
        assert noise not in out, noise
    # the link was printed while the server was up, then the command that serves it again
    url = re.search(r"MLflow: (http://127\.0\.0\.1:(\d+)/#/experiments/\d+/runs/\w+)", out)
    assert url is not None, out[-3000:]
    assert f"python -m orchestrator.ui {results_dir.resolve()} --port {url.group(2)}" in out
    assert wait_no_tagged(tag) == []
    # the sweep's report was written and logged; reopen the server the way the tool says
    store = ResultsStore(results_dir, "live")
    assert {"report.md", "report.html"} <= {p.name for p in store.report_dir.iterdir()}
    ui = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.ui", str(results_dir), "--port", url.group(2)],
        stdout=subprocess.PIPE, text=True, env=tagged_env(tag),
    )  # fmt: skip
    try:
        assert ui.stdout is not None and "MLflow UI: " in ui.stdout.readline()
        uri = f"http://127.0.0.1:{url.group(2)}"
        parent, children = sweep_runs(uri, "it-live", "live")
        assert url.group(1).endswith(parent["info"]["run_id"])
        assert len(children) == 2
        assert parent["metrics"]["trials_done"] == 2 and parent["metrics"]["trials_failed"] == 0
        assert {"config.yaml", "report/report.md", "report/report.html"} <= set(artifact_paths(uri, parent))
    finally:
        ui.terminate()
        ui.wait(timeout=60)
    assert wait_no_tagged(tag) == []
