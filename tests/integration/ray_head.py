"""A Ray head started the way a cluster node starts it (``ray start --head``), bound to 127.0.0.1.

It runs with ``--block`` in its own process group and a private temp dir, so stopping it means
signalling that group only (never ``ray stop``, which would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from engines.process import group_members

PORT_FLAGS = (
    "port",
    "node-manager-port",
    "object-manager-port",
    "metrics-export-port",
    "runtime-env-agent-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "ray-client-server-port",
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on EVERY interface (held while choosing, so none repeats).

    Not just on 127.0.0.1: Ray's gRPC servers bind ``*`` with SO_REUSEPORT, and ``ray.init``
    rewrites ``127.0.0.1:<port>`` to ``<node ip>:<port>``, so a port another process holds on the
    node IP would send our driver to that process. The probe sockets never listen.
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("", 0))
        return [s.getsockname()[1] for s in socks]


@dataclass
class LocalRayHead:
    num_cpus: int = 4
    num_gpus: int = 8
    env: dict[str, str] = field(default_factory=dict)
    temp_dir: Path = field(init=False)
    ports: dict[str, int] = field(init=False, default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports['port']}"

    @property
    def log_path(self) -> Path:
        return self.temp_dir / "ray-start.log"

    def start(self, timeout_s: float = 180.0) -> LocalRayHead:
        # Short path: Ray's unix sockets live under it and have a ~100 character limit.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rayk8s-", dir="/tmp"))
        self.ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        argv = [
            str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
            f"--num-cpus={self.num_cpus}", f"--num-gpus={self.num_gpus}",
            f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
            "--node-ip-address=127.0.0.1", "--disable-usage-stats",
            f"--object-store-memory={256 * 1024 * 1024}",
            *(f"--{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited {self.process.returncode}:\n{self.log_text()}")
            if "Ray runtime started" in self.log_text():
                return self
            time.sleep(0.5)
        raise TimeoutError(f"ray start did not report ready in {timeout_s} s:\n{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def processes(self) -> list[psutil.Process]:
        """Live processes of this head: its process group, and any that name its temp dir."""
        found = {}
        if self.process is not None:
            for pid in group_members(self.process.pid):
                with contextlib.suppress(psutil.NoSuchProcess):
                    found[pid] = psutil.Process(pid)
        for p in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if p.info["status"] != psutil.STATUS_ZOMBIE and str(self.temp_dir) in " ".join(
                    p.info["cmdline"] or []
                ):
                    found[p.pid] = p
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return list(found.values())

    def stop(self, grace_s: float = 60.0) -> list[str]:
        """SIGTERM ``ray start`` (it drains the node and stops its children), then SIGKILL the whole
        group after ``grace_s``. Returns what was still alive when the grace period ended.

        SIGTERM goes to the leader only: Ray 2.60 drains the node through the raylet first, which a
        group-wide SIGTERM would have killed already (the drain then waits 30 s for nothing).
        """
        if self.process is None:
            return []
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = [f"{p.pid}: {' '.join(p.cmdline())[:120]}" for p in self.processes()]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for p in self.processes():  # escaped the group but carry our temp dir: ours
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return survivors
