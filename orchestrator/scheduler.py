"""Ray scheduling: one placement group + one engine actor per engine instance.

Each engine instance (trials sharing engine × model × TP × engine args) gets a named placement group
with the bundles from ``placement.plan_for`` and an ``EngineActor`` holding exactly ``tp`` GPUs. The
actor starts the engine with ``CUDA_VISIBLE_DEVICES`` from ``ray.get_gpu_ids()`` and runs the group's
workload points one after another. Groups run concurrently up to ``ray.max_concurrent_engines``,
largest TP first. Placement groups and actors are always removed in ``finally``.
"""

from __future__ import annotations

import socket
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from orchestrator.config.schema import ExperimentConfig
from orchestrator.grid import group_by_engine
from orchestrator.placement import NodeSpec, plan_for
from orchestrator.runner import EngineRunner, failed_result
from orchestrator.trial import FailureReason, Status, Trial, TrialResult

OnResult = Callable[[Trial, TrialResult], None]


class EngineActor:
    """Holds ``tp`` GPUs; runs one engine instance and its workload points (one call at a time)."""

    def __init__(self, trial: Trial, device: str, work_dir: str) -> None:
        self.runner = EngineRunner(trial.engine, trial.model, trial.tp, device, Path(work_dir))

    def start(self) -> dict[str, Any]:
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        try:
            info = self.runner.start(gpu_ids)
        except Exception as exc:  # reported to the driver as a record, with the log
            reason = getattr(exc, "reason", FailureReason.ENGINE_CRASH.value)
            self.runner.stop()
            return {"ok": False, "reason": reason, "message": str(exc), "log": self.runner.log_text()}
        info.update(node_id=ray.get_runtime_context().get_node_id(), hostname=socket.gethostname())
        return {"ok": True, "info": info}

    def run_point(self, trial: Trial) -> TrialResult:
        try:
            result = self.runner.run_point(trial)
        except Exception as exc:  # a bug or bad input in one point must not kill the sweep
            result = failed_result(trial, exc)
            result.engine_info = dict(self.runner.info)
        result.engine_log = result.engine_log or self.runner.log_text()
        return result

    def stop(self) -> str:
        self.runner.stop()
        return self.runner.log_text()


@dataclass
class _Group:
    trials: list[Trial]
    pg: PlacementGroup
    actor: Any = None
    stage: str = "placing"  # placing → starting → running → stopping
    queue: deque[Trial] = field(default_factory=deque)
    current: Trial | None = None


class Scheduler:
    def __init__(
        self, cfg: ExperimentConfig, sweep_id: str, nodes: Sequence[NodeSpec], on_result: OnResult
    ) -> None:
        self.cfg = cfg
        self.sweep_id = sweep_id
        self.nodes = list(nodes)
        self.on_result = on_result
        self.work_root = tempfile.mkdtemp(prefix=f"orch-{sweep_id}-")
        # max_concurrency=2: stop() can run while start() or run_point() is in progress (Ctrl-C)
        self._actor_cls = ray.remote(num_cpus=0, max_concurrency=2)(EngineActor)
        self._active: dict[Any, _Group] = {}  # outstanding ObjectRef → its group

    def instances(self, trials: Sequence[Trial]) -> list[list[Trial]]:
        """Engine instances to launch, largest TP first; one per trial when reuse is off."""
        groups = list(group_by_engine(trials).values()) if self.cfg.engine.reuse else [[t] for t in trials]
        return sorted(groups, key=lambda g: -g[0].tp)

    def run(self, trials: Sequence[Trial]) -> None:
        pending = deque(self.instances(trials))
        try:
            while pending or self._active:
                while pending and self._live_groups() < self.cfg.ray.max_concurrent_engines:
                    self._place(pending.popleft())
                ready, _ = ray.wait(list(self._active), num_returns=1)
                self._advance(ready[0])
        finally:
            self.shutdown()

    def _live_groups(self) -> int:
        return len({id(g) for g in self._active.values()})

    def _place(self, trials: list[Trial]) -> None:
        first = trials[0]
        plan = plan_for(first.tp, self.cfg.engine.cpus, self.nodes)
        pg = placement_group(
            list(plan.bundles), strategy=plan.strategy, name=f"orch-{self.sweep_id}-{first.group_id}"
        )
        group = _Group(trials, pg, queue=deque(trials))
        self._active[pg.ready()] = group

    def _advance(self, ref: Any) -> None:
        group = self._active.pop(ref)
        try:
            value = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            self._fail_rest(group, exc, FailureReason.ENGINE_CRASH)
            return
        if group.stage == "placing":
            first = group.trials[0]
            strategy = PlacementGroupSchedulingStrategy(group.pg, placement_group_bundle_index=0)
            work_dir = str(Path(self.work_root) / first.group_id)
            group.actor = self._actor_cls.options(
                num_gpus=plan_for(first.tp, 1, self.nodes).bundles[0]["GPU"],
                scheduling_strategy=strategy,
                name=f"orch-{self.sweep_id}-{first.group_id}",
            ).remote(first, self.cfg.resources.device, work_dir)
            group.stage = "starting"
            self._active[group.actor.start.remote()] = group
        elif group.stage == "starting":
            if not value["ok"]:
                exc = _StartFailure(value["message"], value["reason"])
                for t in group.queue:
                    self.on_result(t, failed_result(t, exc, value["log"]))
                group.queue.clear()
                self._release(group)
                return
            group.stage = "running"
            self._next_point(group)
        elif group.stage == "running":
            assert group.current is not None
            self.on_result(group.current, value)
            self._next_point(group)
        else:
            self._release(group)

    def _next_point(self, group: _Group) -> None:
        if group.queue:
            group.current = group.queue.popleft()
            self._active[group.actor.run_point.remote(group.current)] = group
        else:
            group.current = None
            group.stage = "stopping"
            self._active[group.actor.stop.remote()] = group

    def _fail_rest(self, group: _Group, exc: BaseException, reason: FailureReason) -> None:
        lost = [group.current] if group.current else []
        for t in lost + list(group.queue):
            result = failed_result(
                t, _StartFailure(f"engine actor lost: {exc}".splitlines()[0], reason.value)
            )
            self.on_result(t, result)
        group.queue.clear()
        self._release(group)

    def _release(self, group: _Group) -> None:
        if group.actor is not None:
            ray.kill(group.actor, no_restart=True)
            group.actor = None
        remove_placement_group(group.pg)

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop every engine (gracefully, then by force) and remove every placement group."""
        groups = {id(g): g for g in self._active.values()}.values()
        self._active.clear()
        stops = [g.actor.stop.remote() for g in groups if g.actor is not None]
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=grace_s)
        for g in groups:
            if g.current is not None:
                self.on_result(g.current, _interrupted(g.current))
            self._release(g)


class _StartFailure(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _interrupted(trial: Trial) -> TrialResult:
    result = failed_result(trial, _StartFailure("interrupted: the orchestrator was stopped", "interrupted"))
    result.status = Status.FAILED
    return result
