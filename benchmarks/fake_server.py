"""The fake OpenAI server (:mod:`engines.standins.fake_openai_server`) as the client benchmarks run it:
its own process and session, at ``nice -n -15``, ready when its ``/health`` answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

NICE = [
    "nice",
    "-n",
    "-15",
]  # every process of a client benchmark: other work on the machine disturbs it less


def http(url: str, method: str = "GET") -> dict[str, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def start_server(port: int, tokens: int, itl_ms: float, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        *NICE,
        sys.executable,
        str(Path(__file__).parents[1] / "engines" / "standins" / "fake_openai_server.py"),
    ]
    argv += ["--port", str(port), "--tokens", str(tokens), "--itl-ms", str(itl_ms)]
    proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            http(f"http://127.0.0.1:{port}/health")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"fake server exited: {log.read_text()[-500:]}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fake server not ready in 30 s")
