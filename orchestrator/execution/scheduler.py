"""Ray scheduling: one placement group + one engine actor per engine instance, packed on the cluster.

Each engine instance (trials sharing engine × model × TP × engine args) gets a named placement group
with the bundles from ``placement.instance_plan`` and an ``EngineActor`` holding its bundle's GPUs
(``CUDA_VISIBLE_DEVICES`` from ``ray.get_gpu_ids()``; on CPU, where ranks bind cores, its CPUs too);
``GpuHolder`` actors hold a multi-node group's other bundles. Instances start as capacity frees up
and ``admit`` allows (a budget; refused ones stay in ``pending``), largest TP first with backfill
(``capacity.pick_next``), at most ``ray.max_concurrent_engines`` at once (unset: all that fit). A
lost actor or node retries the remaining trials on fresh resources up to ``ray.max_retries``, then
records them FAILED. Placement groups and actors are always removed in ``finally``."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import (
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.results import StartReply, TrialResult
from orchestrator.core.status import FailureReason
from orchestrator.core.trial import Trial
from orchestrator.execution.accounting import Windows, settle
from orchestrator.execution.actor import EngineActor, GpuHolder
from orchestrator.execution.capacity import Capacity, pick_next
from orchestrator.execution.instance import Instance, Stage, actor_cpus, engine_exited, plan_instances
from orchestrator.execution.ray_view import alive_nodes, wait_free
from orchestrator.execution.runner import failed_result
from orchestrator.execution.warm_pool import WarmPool
from orchestrator.sweep.placement import NodeSpec

OnResult = Callable[[Trial, TrialResult], None]
RECENT_REMOVAL_S = 2.0  # a group placed this soon after a removal first waits for Ray's free GPUs


class Scheduler:
    def __init__(
        self,
        cfg: ExperimentConfig,
        sweep_id: str,
        nodes: Sequence[NodeSpec],
        on_result: OnResult,
        durations: Mapping[str, float] | None = None,  # trial id → seconds, from earlier sweeps
        watch: Callable[[Instance], None] | None = None,  # every instance's change (events.InstanceWatch)
        admit: Callable[[Sequence[Trial]], bool] | None = None,  # may this instance start now?
    ) -> None:
        self.cfg, self.watch, self.admit = cfg, watch, admit or (lambda _: True)
        self.durations = dict(durations or {})
        self.sweep_id, self.nodes, self.on_result = sweep_id, list(nodes), on_result
        self.work_root = tempfile.mkdtemp(prefix=f"orch-{sweep_id}-")
        # max_concurrency=2: stop() can run while start() or run_point() is in progress (Ctrl-C)
        self._actor_cls = ray.remote(num_cpus=0, max_concurrency=2)(EngineActor)  # type: ignore[call-overload]
        self._holder_cls = ray.remote(num_cpus=0)(GpuHolder)
        self._active: dict[Any, Instance] = {}  # outstanding ObjectRef → its instance
        self._live: list[Instance] = []
        self.finished: list[Instance] = []  # for timing reports (benchmarks)
        self.capacity = Capacity.from_nodes(alive_nodes())
        self.pending: list[Instance] = []
        self.limit = cfg.ray.max_concurrent_engines or math.inf  # None: what the capacity holds
        self.pool = WarmPool(cfg.ray.warm_workers)
        self._released_at = 0.0  # last placement group removal (Ray takes ~0.1 s to take it back)
        self.windows = Windows()  # measurement windows: co-tenancy, ray.exclusive_nodes
        self._waiting: list[Instance] = []  # instances whose next point waits for their nodes

    def run(self, trials: Sequence[Trial]) -> None:
        self.pending = pending = plan_instances(trials, self.cfg, self.nodes, self.durations, self.watch)
        if pending:  # no more warm workers per node than could ever start at once
            self.pool.per_node = int(min(self.pool.per_node, self.limit, len(pending)))
            self.pool.start(ray.nodes())
        try:
            while pending or self._active:
                while pending and len(self._live) < self.limit:
                    index = pick_next([i.plan for i in pending], self.capacity)
                    if index is None or not self.admit(pending[index].trials):
                        break
                    self._place(pending.pop(index))
                if not self._active:  # nothing runs: the rest does not fit (capacity lost) or was refused
                    if pick_next([i.plan for i in pending], self.capacity) is None:
                        for t in (t for inst in pending for t in inst.queue):
                            message = "no capacity left on the cluster for this TP"
                            self.on_result(t, failed_result(t, message, FailureReason.NODE_LOST))
                        pending.clear()
                    break
                ready, _ = ray.wait(list(self._active), num_returns=1)
                retry = self._advance(ready[0])
                if retry is not None:
                    pending.insert(0, retry)
                    pending.sort(key=lambda i: -i.trials[0].tp)
        finally:
            self.shutdown()

    def _place(self, inst: Instance) -> None:
        inst.submitted_at = time.time()
        guess = self.capacity.fit(inst.plan) or []
        self.capacity.take(inst.plan, guess)
        inst.nodes = guess
        first = inst.trials[0]
        name = f"orch-{self.sweep_id}-{first.trial_id}-{inst.attempt}"
        # Ask Ray for the node the capacity model chose, so that its picture stays true; otherwise
        # Ray may spread small groups and leave a large one pending on a node the model thought free.
        target = guess[0] if guess and inst.plan.strategy == "STRICT_PACK" else None
        if guess and time.time() - self._released_at < RECENT_REMOVAL_S:
            wait_free(inst.plan.gpus_by_node(guess))
        inst.pg = placement_group(
            list(inst.plan.bundles), strategy=inst.plan.strategy, name=name, _soft_target_node_id=target
        )
        self._live.append(inst)
        self._active[inst.pg.ready()] = inst

    def _advance(self, ref: Any) -> Instance | None:
        """Move an instance one step on; returns an instance to retry, if any."""
        inst = self._active.pop(ref)
        try:
            value = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            return self._lost(inst, exc)
        if inst.stage is Stage.PLACING:
            inst.placed_at = time.time()
            self._start_actor(inst)
        elif inst.stage is Stage.STARTING:
            reply: StartReply = value
            if not reply.ok:
                for t in inst.queue:
                    self.on_result(t, failed_result(t, reply.message, reply.reason, reply.log))
                inst.queue.clear()
                self._release(inst)
                return None
            inst.info, inst.started_at = reply.info, time.time()
            inst.stage = Stage.RUNNING
            self._next_point(inst)
        elif inst.stage is Stage.RUNNING:
            assert inst.current is not None
            value.add_engine_info(inst.info, attempt=inst.attempt)
            now, usd, output_len = time.time(), self.cfg.cost.gpu_hour_usd, inst.current.point.output_len
            settle(value, self.windows, inst.plan.gpus, inst.hold(now), now, usd, output_len)
            self.on_result(inst.current, value)
            if engine_exited(value) and inst.queue:
                self._fresh_engine(inst, value)
            else:
                self._next_point(inst)
            self._wake()
        else:
            self._hand_over_or_release(inst)
        return None

    def _hand_over_or_release(self, inst: Instance) -> None:
        """Give a finished instance's placement group and actor to the next instance of the same
        shape when it would be picked next anyway (no placement, no new worker); else release."""
        self.capacity.release(inst.plan, inst.nodes)
        index = pick_next([i.plan for i in self.pending], self.capacity)
        self.capacity.take(inst.plan, inst.nodes)
        nxt = None if index is None else self.pending[index]
        if nxt is None or nxt.plan != inst.plan or inst.actor is None or not self.admit(nxt.trials):
            self._release(inst)
            return
        self.pending.remove(nxt)
        nxt.pg, nxt.nodes, nxt.actor, nxt.holders = inst.pg, inst.nodes, inst.actor, inst.holders
        inst.pg, inst.actor, inst.holders = None, None, []
        self._release(inst)  # bookkeeping only: nothing left to kill or remove
        nxt.submitted_at = nxt.placed_at = time.time()
        self._live.append(nxt)
        nxt.stage = Stage.STARTING
        first = nxt.trials[0]
        work_dir = str(Path(self.work_root) / f"{first.group_id}-{first.trial_id}-{nxt.attempt}")
        self._active[nxt.actor.restart.remote(first, self.cfg.resources.device, work_dir, nxt.holders)] = nxt

    def _start_actor(self, inst: Instance) -> None:
        assert inst.pg is not None
        actual = placement_group_table(inst.pg).get("bundles_to_node_id", {})
        nodes = [actual.get(i, n) for i, n in enumerate(inst.nodes)]
        self.capacity.release(inst.plan, inst.nodes)
        self.capacity.take(inst.plan, nodes)
        inst.nodes = nodes
        first = inst.trials[0]
        inst.holders = [
            self._holder_cls.options(
                num_gpus=b["GPU"], scheduling_strategy=PlacementGroupSchedulingStrategy(inst.pg, i)
            ).remote()
            for i, b in enumerate(inst.plan.bundles[1:], start=1)
        ]
        inst.actor = self._actor_cls.options(
            num_gpus=inst.plan.bundles[0]["GPU"],
            num_cpus=actor_cpus(inst, self.cfg.resources.device),
            scheduling_strategy=PlacementGroupSchedulingStrategy(inst.pg, placement_group_bundle_index=0),
        ).remote(
            first, self.cfg.resources.device, str(Path(self.work_root) / f"{first.group_id}-{inst.attempt}")
        )
        inst.stage = Stage.STARTING
        self._active[inst.actor.start.remote(inst.holders)] = inst
        if self.pending:  # each actor took a warm worker on its node: start the next one now
            for node in nodes:
                self.pool.refill(node)

    def _fresh_engine(self, inst: Instance, last: TrialResult) -> None:
        """The engine died during (or before) a point: its remaining points run on a freshly started
        engine on the same GPUs (``ray.max_retries`` times per instance), else they are FAILED."""
        if inst.attempt >= self.cfg.ray.max_retries:
            message = (
                f"not run: the engine died in trial {last.trial_id} ({last.message.split(';')[0]}) and "
                f"ray.max_retries={self.cfg.ray.max_retries} restarts are used up"
            )
            for t in inst.queue:
                self.on_result(t, failed_result(t, message, FailureReason.ENGINE_CRASH))
            inst.queue.clear()
            self._next_point(inst)  # → stopping
            return
        inst.attempt += 1
        inst.current = None
        inst.stage = Stage.STARTING
        first = inst.queue[0]
        work_dir = str(Path(self.work_root) / f"{first.group_id}-{inst.attempt}")
        ref = inst.actor.restart.remote(first, self.cfg.resources.device, work_dir, inst.holders)
        self._active[ref] = inst

    def _next_point(self, inst: Instance) -> None:
        if inst.queue and self.cfg.ray.exclusive_nodes and inst not in self._waiting:
            inst.current = None
            self._waiting.append(inst)  # sent once no other window is open on its nodes
            self._wake()
            if inst in self._waiting:  # its nodes are busy: the live view says so
                inst.stage = Stage.WAITING
        elif inst.queue:
            inst.stage, inst.current = Stage.RUNNING, inst.queue.pop(0)
            self.windows.open(inst.current.trial_id, inst.nodes, inst.info.get("gpus", []), time.time())
            self._active[inst.actor.run_point.remote(inst.current)] = inst
        else:
            inst.current, inst.stage = None, Stage.STOPPING
            self._active[inst.actor.stop.remote()] = inst

    def _wake(self) -> None:
        """Send the waiting instances their next point, first come first, where their nodes are free."""
        for inst in list(self._waiting):
            if not self.windows.busy(inst.nodes):
                self._next_point(inst)
                self._waiting.remove(inst)

    def _lost(self, inst: Instance, exc: BaseException) -> Instance | None:
        """The actor (or its node) died: retry the remaining trials on fresh resources, or fail them."""
        if inst.current is not None:
            self.windows.drop(inst.current.trial_id)
            self._wake()
        alive = alive_nodes()
        dead = [n for n in inst.nodes if n not in alive]
        for node in dead:
            self.capacity.drop_node(node)
        reason = FailureReason.NODE_LOST if dead else FailureReason.ENGINE_CRASH
        remaining = ([inst.current] if inst.current else []) + inst.queue
        inst.current, inst.queue = None, []
        self._release(inst)
        if not remaining:
            return None
        if inst.attempt < self.cfg.ray.max_retries:
            return Instance(remaining, inst.plan, inst.attempt + 1, queue=list(remaining), watch=self.watch)
        message = f"{reason.value} after {inst.attempt + 1} attempt(s): {str(exc).splitlines()[0]}"
        for t in remaining:
            self.on_result(t, failed_result(t, message, reason))
        return None

    def _release(self, inst: Instance) -> None:
        for handle in [inst.actor, *inst.holders]:
            if handle is not None:
                ray.kill(handle, no_restart=True)
        inst.actor, inst.holders = None, []
        if inst.pg is not None:
            remove_placement_group(inst.pg)
            self._released_at = time.time()
            inst.pg = None
            self.capacity.release(inst.plan, inst.nodes)
        inst.released_at = time.time()
        if inst in self._live:
            self._live.remove(inst)
            self.finished.append(inst)

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop every engine (gracefully, then by force) and remove every placement group."""
        self.pool.close()
        live = list(self._live)
        self._active.clear()
        stops = [i.actor.stop.remote() for i in live if i.actor is not None]
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=grace_s)
        for inst in live:
            if inst.current is not None:
                self.on_result(
                    inst.current, failed_result(inst.current, "interrupted", FailureReason.INTERRUPTED)
                )
            self._release(inst)
        # the engines' work dirs (logs, FlexGen outputs): each result already holds its engine log
        shutil.rmtree(self.work_root, ignore_errors=True)
