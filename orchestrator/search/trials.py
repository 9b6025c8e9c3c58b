"""Each round's measurement of a candidate as a trial (pure): an ``sla_search`` point whose length
grows round by round, and the trial's id.

Round ``r`` of ``R`` sends ``num_requests // eta**(R-1-r)`` requests per probe (at least
``search.min_requests``) and bisects ``sla.iterations - (R-1-r)`` times (at least once): the last
round is the workload as configured, each earlier one ``eta`` times shorter. The point's SLOs are
``search.slo``'s p99 limits. A trial id hashes the candidate's engine instance and the round's
point only, not the budget or which candidates ran, so a rerun of the search (same ``sweep_id``)
finds every measurement it had made already and runs none of them again, whatever its budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from orchestrator.config.schema import ExperimentConfig, SLOConfig
from orchestrator.core.load import LoadSpec, Strategy
from orchestrator.core.trial import Trial, stable_hash
from orchestrator.search.space import Candidate
from orchestrator.sweep.grid import workload_points

SLO_FIELDS = {"ttft_p99_ms": "ttft_ms", "tpot_p99_ms": "tpot_ms", "e2e_p99_ms": "e2e_ms"}
"""``search.slo`` → ``workload.slo`` (the SLA search checks every SLO at p99)."""


def slo_limits(cfg: ExperimentConfig) -> dict[str, float]:
    """The search's p99 limits that are set, keyed like ``workload.slo`` (``ttft_ms``, ...)."""
    return {SLO_FIELDS[k]: float(v) for k, v in vars(cfg.search.slo).items() if v is not None}


def fidelity(cfg: ExperimentConfig, rnd: int) -> tuple[int, int]:
    """(requests per probe, bisection steps) of round ``rnd``."""
    s, w = cfg.search, cfg.workload
    short = s.rounds - 1 - rnd
    requests = max(min(s.min_requests, w.num_requests), w.num_requests // s.eta**short)
    return requests, max(1, w.sla.iterations - short)


def measured_config(cfg: ExperimentConfig, rnd: int) -> ExperimentConfig:
    """``cfg`` with the workload the search measures in round ``rnd``: ``sla_search`` at the
    round's fidelity, the search's SLOs."""
    requests, iterations = fidelity(cfg, rnd)
    w = cfg.workload
    workload = dataclasses.replace(
        w,
        name=Strategy.SLA_SEARCH,
        num_requests=requests,
        slo=SLOConfig(**slo_limits(cfg)),
        sla=dataclasses.replace(w.sla, iterations=iterations),
    )
    return dataclasses.replace(cfg, workload=workload)


def round_point(cfg: ExperimentConfig, rnd: int) -> LoadSpec:
    (point,) = workload_points(measured_config(cfg, rnd))  # the search checked: one point
    return point


def trial_of(c: Candidate, point: LoadSpec) -> Trial:
    """The candidate measured at ``point``; its id as the grid would give it."""
    draft = Trial("", c.cid, c.tp, c.engine, c.model, point, c.settings)
    return dataclasses.replace(draft, trial_id=stable_hash(draft.resolved()))


def all_trials(cfg: ExperimentConfig, candidates: Sequence[Candidate]) -> dict[tuple[str, int], Trial]:
    """(candidate id, round) → its trial, for every candidate and round."""
    points = [round_point(cfg, r) for r in range(cfg.search.rounds)]
    return {(c.cid, r): trial_of(c, p) for c in candidates for r, p in enumerate(points)}
