"""One engine instance as the scheduler tracks it: its trials, placement and stage.

``watch`` (optional) is called with the instance after every change of its stage, its current
trial or its release: the hook :class:`orchestrator.execution.events.InstanceWatch` turns into
events for the live view, so the scheduler itself emits nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ray.util.placement_group import PlacementGroup

from orchestrator.core.results import TrialResult
from orchestrator.core.trial import Trial
from orchestrator.core.validity import FlagKind
from orchestrator.sweep.placement import PlacementPlan


class Stage(enum.StrEnum):
    """placing → starting → running → stopping (a restart goes back to starting)."""

    PLACING = "placing"  # waiting for its placement group
    STARTING = "starting"  # the actor starts the engine
    RUNNING = "running"  # one workload point at a time
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
    watch: Callable[[Instance], None] | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in WATCHED and (watch := self.__dict__.get("watch")) is not None:
            watch(self)

    @property
    def key(self) -> str:
        """One line of the live view: this instance's first trial and attempt."""
        return f"{self.trials[0].trial_id}-{self.attempt}"


def engine_exited(result: TrialResult) -> bool:
    """True when the trial's engine died under it (the runner's ``engine_exited`` flag)."""
    return any(f.kind is FlagKind.ENGINE_EXITED for f in result.flags)
