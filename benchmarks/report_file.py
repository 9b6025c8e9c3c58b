"""What every benchmark's JSON report says about the run, and writing it (benchmarks/results/)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def run_setup(load_before: tuple[float, ...], wall_s: float) -> dict[str, Any]:
    """The machine, Python, the load average before and now, and the run's wall time."""
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(wall_s, 1),
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
