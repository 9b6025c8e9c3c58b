"""On a GPU machine: the smoke experiment with the real vllm package on real GPUs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.store.results import ResultsStore
from orchestrator.sweep.placement import detect_local_gpus

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(detect_local_gpus() == 0, reason="no NVIDIA GPU on this machine"),
]


def test_smoke_on_gpu(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "orchestrator", "+exp=smoke", "resources=gpu", "engine.tp=[1]",
            f"results_dir={tmp_path}", "sweep_id=gpu-smoke", "tracking=none",
        ],
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = ResultsStore(tmp_path, "gpu-smoke").all_results()
    assert results and all(r["status"] == "DONE" for r in results)
    assert all(r["engine_info"]["device"] == "gpu" for r in results)
