"""What each engine instance of a sweep really ran (pure): one line per instance for the report.

Read from the trials' recorded ``engine_info`` (:mod:`orchestrator.execution.engine_run`), written
as :func:`orchestrator.core.engine_info.run_text`: the tensor-parallel size its processes showed,
the executor backend, each rank's pid and cores (CPU) or device (GPU), the engine version and its
start-up time.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core.engine_info import run_text
from orchestrator.store.reader import SweepData, TrialData


def run_lines(sweep: SweepData) -> list[str]:
    """One line per engine instance (trials that ran on the same engine process group), in trial
    order: ``vllm tp2 [3 trial(s)]: TP 2 (mp executor), ...``. Instances recorded before these
    facts were (no ``tensor_parallel_size``) are left out."""
    instances: dict[tuple[Any, ...], list[TrialData]] = {}
    for t in sweep.trials:
        info = t.engine_info
        if "tensor_parallel_size" in info:
            key = (t.engine_name, info.get("pgid"), info.get("node_id"), info.get("engine_started_at"))
            instances.setdefault(key, []).append(t)
    return [
        f"{ts[0].engine_name} tp{ts[0].tp} [{len(ts)} trial(s)]: {run_text(ts[0].engine_info)}"
        for ts in instances.values()
    ]
