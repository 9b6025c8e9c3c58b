"""One engine instance as the scheduler tracks it: its trials, placement and stage.

``watch`` (optional) is called with the instance after every change of its stage, its current
trial or its release: the hook :class:`orchestrator.execution.events.InstanceWatch` turns into
events for the live view, so the scheduler itself emits nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ray.util.placement_group import PlacementGroup

from engines.base import binds_cores
from engines.registry import get_engine
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.results import TrialResult
from orchestrator.core.trial import Trial
from orchestrator.core.validity import FlagKind
from orchestrator.execution.capacity import at_once, instance_cost, launch_order
from orchestrator.sweep.placement import NodeSpec, PlacementPlan, instance_plan
from orchestrator.sweep.repeats import engine_groups


class Stage(enum.StrEnum):
    """placing → starting → running ⇄ waiting → stopping (a restart goes back to starting)."""

    PLACING = "placing"  # waiting for its placement group
    STARTING = "starting"  # the actor starts the engine
    RUNNING = "running"  # one workload point at a time
    WAITING = "waiting"  # ray.exclusive_nodes: its next point waits for its nodes to be free
    STOPPING = "stopping"  # the actor stops the engine


WATCHED = frozenset({"submitted_at", "stage", "current", "released_at"})


@dataclass
class Instance:
    """One engine instance to run: its trials, placement plan and attempt number."""

    trials: list[Trial]
    plan: PlacementPlan
    attempt: int = 0
    pg: PlacementGroup | None = None
    nodes: list[str] = field(default_factory=list)
    actor: Any = None
    holders: list[Any] = field(default_factory=list)
    stage: Stage = Stage.PLACING
    queue: list[Trial] = field(default_factory=list)
    current: Trial | None = None
    info: dict[str, Any] = field(default_factory=dict)
    submitted_at: float = 0.0
    placed_at: float = 0.0  # placement group ready
    started_at: float = 0.0  # engine actor started the engine
    released_at: float = 0.0
    held_since: float = 0.0  # end of its last point: the next one holds the GPUs from then (cost)
    watch: Callable[[Instance], None] | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in WATCHED and (watch := self.__dict__.get("watch")) is not None:
            watch(self)

    def hold(self, now: float) -> float:
        """Seconds its GPUs were held for the point ending now: since placement or the end of its
        last point (its cost); the next point holds them from now."""
        held, self.held_since = now - max(self.placed_at, self.held_since), now
        return held

    @property
    def key(self) -> str:
        """One line of the live view: this instance's first trial and attempt."""
        return f"{self.trials[0].trial_id}-{self.attempt}"


def engine_exited(result: TrialResult) -> bool:
    """True when the trial's engine died under it (the runner's ``engine_exited`` flag)."""
    return any(f.kind is FlagKind.ENGINE_EXITED for f in result.flags)


def plan_instances(
    trials: Sequence[Trial],
    cfg: ExperimentConfig,
    nodes: Sequence[NodeSpec],
    durations: Mapping[str, float],
    watch: Callable[[Instance], None] | None = None,
) -> list[Instance]:
    """Engine instances to launch, round by round (repeats with engine restarts), largest TP first,
    longest known first within a TP; one per trial when reuse is off. Each one is watched by
    ``watch`` (the live view's events) from its creation on."""
    groups = instance_groups(trials, cfg, nodes)
    out = [Instance(g, plan, queue=list(g), watch=watch) for _, g, plan in groups]
    costs = [instance_cost(i.trials, durations) for i in out]
    order = launch_order([i.trials[0].tp for i in out], costs, [r for r, _, _ in groups])
    return [out[k] for k in order]


def instance_groups(
    trials: Sequence[Trial], cfg: ExperimentConfig, nodes: Sequence[NodeSpec]
) -> list[tuple[int, list[Trial], PlacementPlan]]:
    """(round, trials, placement plan) per engine instance of ``trials``, in order of first appearance."""
    device = cfg.resources.device
    return [
        (r, g, instance_plan(g[0].engine, device, g[0].tp, nodes))
        for r, g in engine_groups(trials, cfg.engine.reuse, cfg.stats.restart)
    ]


def instances_at_once(trials: Sequence[Trial], cfg: ExperimentConfig, nodes: Sequence[NodeSpec]) -> int:
    """How many of the trials' engine instances hold their bundles at the same time (the live
    view's ETA), at most ``ray.max_concurrent_engines``."""
    plans = [plan for _, _, plan in instance_groups(trials, cfg, nodes)]
    return at_once(plans, nodes, cfg.ray.max_concurrent_engines)


def actor_cpus(inst: Instance, device: str) -> float:
    """The engine actor's Ray CPUs: where the ranks bind cores (vLLM on CPU) its bundle's, which
    the engine's ranks lease (``engine_run.lease_cores``); else 0 (the bundle only reserves them)."""
    binds = binds_cores(get_engine(inst.trials[0].engine.name), device)
    return float(inst.plan.bundles[0]["CPU"]) if binds else 0.0
