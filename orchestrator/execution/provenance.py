"""Where and with what a trial ran: the orchestrator's git commit and the node's hardware (for tags)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def git_commit(path: Path = _CHECKOUT) -> str:
    """The commit of the orchestrator checkout (``+dirty`` if modified); '' outside a git checkout."""
    if not (path / ".git").exists():  # an installed package, not a checkout
        return ""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """GPU names from ``nvidia-smi`` ([] when there is none)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def node_info() -> dict[str, str]:
    """This node's hostname, CPU model and count, and GPU names (as tag-ready strings)."""
    gpus = gpu_names()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": str(os.cpu_count() or 0),
        "gpus": ",".join(gpus),
        "gpu_count": str(len(gpus)),
    }


def collect() -> dict[str, object]:
    """Provenance of a sweep, taken once by the driver: git commit and the driver node."""
    return {"git_commit": git_commit(), "driver": node_info()}
