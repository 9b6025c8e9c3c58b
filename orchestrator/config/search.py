"""Typed config of the SLO search (``search=slo``, docs/search.md): plain dataclasses, the config
schema's ``search`` group; :func:`orchestrator.search.space.check` validates it before anything
starts. Off by default (``search: none``), so a sweep without it is exactly what it was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Objective(enum.StrEnum):
    """What the search maximises (docs/search.md#definitions)."""

    GOODPUT_PER_GPU = "goodput_per_gpu"  # output tok/s at the highest rate meeting the SLO, / TP
    GOODPUT_PER_GPU_HOUR = "goodput_per_gpu_hour"  # the same per GPU-hour held, start-up included


@dataclass
class SearchSLO:
    """p99 limits every candidate must meet (unset: not checked); at least one is needed."""

    ttft_p99_ms: float | None = None
    tpot_p99_ms: float | None = None
    e2e_p99_ms: float | None = None


@dataclass
class SearchConfig:
    """The configurations to search and how.

    ``space``: dotted engine paths (``engine.tp``, ``engine.max_num_seqs``, ``engine.extra_args``,
    ...) → values; every combination is a candidate (``engine.tp`` absent: the values of
    ``engine.tp``). ``candidates``: more candidates given one by one, each a mapping of the same
    paths. ``rounds`` of successive halving keep the best ``1/eta`` each round; the last round
    measures with the workload's ``num_requests`` and ``sla.iterations``, each earlier one with
    ``eta`` times fewer requests (at least ``min_requests``) and one bisection step less.
    ``dominance_slack``: a candidate is dominated when a measured one with no more GPUs reaches
    its upper bound × (1 + slack). ``budget_gpu_hours``: GPU-hours held (start-up included) the
    search may spend, over all its runs (null: no limit). ``replica_lifetime_s``: how long a
    deployed replica serves, for ``goodput_per_gpu_hour``.
    """

    enabled: bool = False
    space: dict[str, list[Any]] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    slo: SearchSLO = field(default_factory=SearchSLO)
    objective: str = "goodput_per_gpu"
    rounds: int = 2
    eta: int = 2
    min_requests: int = 8
    dominance_slack: float = 0.1
    budget_gpu_hours: float | None = None
    replica_lifetime_s: float = 3600.0
