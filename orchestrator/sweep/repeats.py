"""Repeats (pure): every trial ``repeats`` times, in a seeded interleaved order, grouped into engine
instances for a warm or a cold run.

With ``repeats`` = 1 nothing changes: the trials, their ids and their order are the grid's. With
``repeats`` = N > 1 each trial becomes N trials whose resolved config adds ``repeat: r``
(:meth:`orchestrator.core.trial.Trial.resolved`), so each repeat has an id of its own (resume reruns
only the missing ones) and ``config_id`` is the id the trial has without repeats. Their order is
:func:`workloads.stats.interleave` over all trials (round r holds repeat r of every trial, each
round shuffled by ``stats.seed``), which spreads a drift of the machine over every configuration
instead of landing it on the ones measured last.

Engine instances (:func:`engine_groups`): ``warm`` keeps one instance per engine group, its
trials' repeats in the interleaved order on one engine; ``cold`` makes one instance per engine group
and round, so the engine is started afresh between two repeats of a trial, and the scheduler starts
the rounds in order (round 0 of every group, then round 1, ...). ``engine.reuse=false``: one
instance per trial and repeat, in rounds as well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from orchestrator.core.trial import Trial, stable_hash
from workloads.stats import interleave


def with_repeats(trials: Sequence[Trial], repeats: int, seed: int = 0) -> list[Trial]:
    """Every trial ``repeats`` times with its repeat index, interleaved (unchanged for 1)."""
    if repeats == 1:
        return list(trials)
    by_id = {t.trial_id: t for t in trials}
    out = []
    for key, r in interleave(list(by_id), repeats, seed):
        base = by_id[str(key)]
        trial = dataclasses.replace(base, repeat=r, config_id=base.trial_id)
        out.append(dataclasses.replace(trial, trial_id=stable_hash(trial.resolved())))
    return out


def engine_groups(trials: Sequence[Trial], reuse: bool, restart: str) -> list[tuple[int, list[Trial]]]:
    """(round, trials in run order) per engine instance, in order of first appearance.

    The round is 0 for every instance unless the engine restarts between repeats (``cold``, or
    ``reuse`` off), where it is the repeat index of the instance's trials.
    """
    groups: dict[tuple[str, int], list[Trial]] = {}
    for t in trials:
        per_round = (t.repeat or 0) if (restart == "cold" or not reuse) else 0
        key = (t.group_id if reuse else t.trial_id, per_round)
        groups.setdefault(key, []).append(t)
    return [(round_, group) for (_, round_), group in groups.items()]


def repeats_of(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    """config id → its repeats (order kept); trials without a repeat index are left out."""
    out: dict[str, list[Trial]] = {}
    for t in trials:
        if t.repeat is not None:
            out.setdefault(t.base_id, []).append(t)
    return out
