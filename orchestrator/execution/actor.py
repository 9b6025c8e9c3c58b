"""Ray actors: ``EngineActor`` runs an engine instance; ``GpuHolder`` holds a spanning group's bundles."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import ray

from orchestrator.core.errors import EngineError
from orchestrator.core.results import StartReply, TrialResult
from orchestrator.core.status import FailureReason
from orchestrator.core.trial import Trial
from orchestrator.execution.probe import NodeProbe
from orchestrator.execution.runner import EngineRunner, exception_text, failed_result

PORT_RETRIES = 2  # starts again on fresh ports after a port_in_use start (a port taken under it)


def start_runner(runner: EngineRunner, gpu_ids: list[str], cpus: int | None) -> dict[str, Any]:
    """``runner.start``, again on fresh ports (up to ``PORT_RETRIES`` times) when a port it chose was
    taken before the engine bound it (``port_in_use``: instances starting together on one node may
    draw the same free port); every other failure, and the last, is raised. Noted in the engine log."""
    for attempt in range(PORT_RETRIES + 1):
        try:
            return runner.start(gpu_ids, cpus)
        except EngineError as exc:
            if exc.reason is not FailureReason.PORT_IN_USE or attempt == PORT_RETRIES:
                raise
            runner.stop()
            runner.note(f"start {attempt + 1} failed, port_in_use ({exception_text(exc)}): "
                        "starting again on fresh ports")  # fmt: skip
    raise AssertionError("unreachable")


def where() -> dict[str, Any]:
    """This worker's node, the GPU ids Ray assigned to it and how many CPUs."""
    context = ray.get_runtime_context()
    return {
        "node_id": context.get_node_id(),
        "hostname": socket.gethostname(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "cpus": float(context.get_assigned_resources().get("CPU", 0.0)),
    }


class GpuHolder:
    """Holds one bundle of a TP group that spans nodes (vLLM's Ray executor uses all of them)."""

    def where(self) -> dict[str, Any]:
        return where()


class EngineActor:
    """Holds ``tp`` GPUs (and, where its ranks bind CPU cores, their CPUs); runs one engine
    instance and its workload points (one point at a time)."""

    def __init__(self, trial: Trial, device: str, work_dir: str) -> None:
        self.runner = EngineRunner(trial.engine, trial.model, trial.tp, device, Path(work_dir))
        self.gpu_ids: list[str] = []  # the GPUs whose energy a point reads (on GPU only)

    def restart(self, trial: Trial, device: str, work_dir: str, holders: list[Any]) -> StartReply:
        """Run another engine instance of the same shape on the GPUs this actor already holds."""
        self.runner.stop()
        self.runner = EngineRunner(trial.engine, trial.model, trial.tp, device, Path(work_dir))
        return self.start(holders)

    def start(self, holders: list[Any]) -> StartReply:
        here = where()
        self.gpu_ids = here["gpu_ids"] if self.runner.device == "gpu" else []
        placement = [here, *ray.get([h.where.remote() for h in holders])]
        try:
            info = start_runner(self.runner, here["gpu_ids"], int(here["cpus"]) or None)
        except Exception as exc:  # reported to the driver as a record, with the log
            reason = exc.reason if isinstance(exc, EngineError) else FailureReason.ENGINE_CRASH
            self.runner.stop()
            return StartReply(False, reason=reason, message=str(exc), log=self.runner.log_text())
        info.update(
            node_id=here["node_id"],
            hostname=here["hostname"],
            placement=placement,
            gpus=[f"{p['node_id']}:{g}" for p in placement for g in p["gpu_ids"]],
            engine_started_at=time.time(),
        )
        return StartReply(True, info)

    def run_point(self, trial: Trial) -> TrialResult:
        probe = NodeProbe(self.gpu_ids).start()  # the node's load and the GPUs' energy over the point
        try:
            result = self.runner.run_point(trial)
        except Exception as exc:  # a bug or bad input in one point must not kill the sweep
            result = failed_result(trial, exception_text(exc), FailureReason.ENGINE_CRASH)
            result.add_engine_info(self.runner.info)
        probe.finish(result)
        result.engine_log = result.engine_log or self.runner.log_text()
        return result

    def progress(self) -> dict[str, Any]:
        """What the runner is doing now (phase, elapsed, log line, requests sent): the live view's
        poll, served on the actor's second slot while ``start`` or ``run_point`` holds the first."""
        return self.runner.progress.snapshot()

    def stop(self) -> str:
        self.runner.stop()
        return self.runner.log_text()
