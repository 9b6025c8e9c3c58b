"""The search's rules (pure): successive halving, dominance, the GPU-hour budget, the choice.

Rounds (synchronous successive halving): every candidate enters round 0; after round ``r`` the
candidates that met the SLO there are ranked by the objective and the best ``ceil(n / eta)`` of
those ``n`` enter round ``r + 1``, except any that is *dominated*: some candidate measured in the
same round with no more GPUs per replica has a score of at least its upper bound × (1 +
``dominance_slack``), so no longer measurement could make it the best (:func:`dominated`). A
FAILED candidate (start-up failure, OOM, crash) and one whose probes never met the SLO drop out
with that verdict; the others go on. :func:`replay` derives all of it from the measurements at
hand, so the state of a search is its results store: a rerun replays what was measured and runs
only what is missing.

The choice: the best score among the candidates that met the SLO in the highest round any did
(the last round unless the budget stopped the search earlier); ties go to fewer GPUs, then config
order. Its margin to each SLO is (limit - p99) / limit.

The budget (:class:`Budget`): GPU-seconds held, start-up included, over every run of the search.
A new engine instance starts only while what was spent, plus what the running instances are
expected to cost, plus its own expected cost, stays within the budget. Expected cost: the median
GPU-seconds per GPU held by the finished trials of the same round (× ``eta`` from the round
before when none finished yet) times its TP; with nothing known, 0 (so the first instances start
while anything is left).
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.config.search import Objective, SearchConfig
from orchestrator.core.status import Status
from orchestrator.search.measure import Measurement


class Verdict(enum.StrEnum):
    """Where a candidate's search ended (so far)."""

    MEASURED = "measured"  # met the SLO in the last round
    PRUNED = "pruned"  # not among the best 1/eta of its round
    DOMINATED = "dominated"  # a measured candidate with no more GPUs beats its upper bound
    NO_SLO_RATE = "no_slo_rate"  # no probed rate met the SLO
    FAILED = "failed"  # its engine did not start, ran out of memory or crashed
    OVER_BUDGET = "over_budget"  # not run: the GPU-hour budget was spent
    PENDING = "pending"  # not run yet (interrupted)


@dataclass(frozen=True)
class Rules:
    rounds: int = 2
    eta: int = 2
    objective: Objective = Objective.GOODPUT_PER_GPU
    slack: float = 0.1
    lifetime_s: float = 3600.0

    @classmethod
    def of(cls, s: SearchConfig) -> Rules:
        return cls(s.rounds, s.eta, Objective(s.objective), s.dominance_slack, s.replica_lifetime_s)

    def score(self, m: Measurement) -> float:
        return m.score(self.objective, self.lifetime_s)

    def upper(self, m: Measurement) -> float:
        return m.upper(self.objective, self.lifetime_s)


def dominated(m: Measurement, others: Sequence[Measurement], rules: Rules) -> Measurement | None:
    """The candidate measured in ``m``'s round or later (it met the SLO) with no more GPUs that
    beats ``m``'s upper bound × (1 + slack), the best such; None when there is none."""
    bound, own = rules.upper(m) * (1.0 + rules.slack), rules.score(m)
    beats = [
        o for o in others
        if o.ok and o.cid != m.cid and o.round >= m.round and o.tp <= m.tp
        and rules.score(o) >= bound > 0 and rules.score(o) > own  # strictly better: never each other
    ]  # fmt: skip
    return max(beats, key=rules.score, default=None)


def ranked(ms: Sequence[Measurement], rules: Rules, order: Mapping[str, int]) -> list[Measurement]:
    """Best first: score, then fewer GPUs, then config order."""
    return sorted(ms, key=lambda m: (-rules.score(m), m.tp, order.get(m.cid, 0)))


@dataclass
class Plan:
    """The search replayed from its measurements."""

    entrants: list[list[str]] = field(default_factory=list)  # candidate ids entering each round
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # candidate id → the verdict's reason
    latest: dict[str, Measurement] = field(default_factory=dict)  # its highest round's measurement
    next_round: int | None = None  # the round with entrants still to measure (None: done)
    todo: list[str] = field(default_factory=list)  # those entrants


def replay(cids: Sequence[str], results: Mapping[tuple[str, int], Measurement], rules: Rules) -> Plan:
    """Rounds, verdicts and what to run next from ``results`` ((candidate id, round) →
    measurement; a retried failure counts as missing)."""
    plan = Plan(verdicts=dict.fromkeys(cids, Verdict.PENDING))
    order = {c: i for i, c in enumerate(cids)}
    entrants = list(cids)
    for rnd in range(rules.rounds):
        plan.entrants.append(entrants)
        have = {c: m for c in entrants if (m := results.get((c, rnd))) is not None and not m.retried}
        plan.latest.update(have)
        for c, m in have.items():
            if m.status != Status.DONE:
                plan.verdicts[c], plan.why[c] = Verdict.FAILED, f"{m.reason}: {m.message}".strip(": ")
            elif not m.ok:
                plan.verdicts[c], plan.why[c] = (
                    Verdict.NO_SLO_RATE,
                    f"round {rnd}: no probed rate met the SLO",
                )
        missing = [c for c in entrants if c not in have]
        if missing:
            plan.next_round, plan.todo = rnd, missing
            return plan
        viable = [m for m in have.values() if m.ok]
        if rnd == rules.rounds - 1:
            plan.verdicts.update(dict.fromkeys((m.cid for m in viable), Verdict.MEASURED))
            break
        measured = [m for m in plan.latest.values() if m.ok]
        keep = max(1, math.ceil(len(viable) / rules.eta)) if viable else 0
        entrants = []
        for m in ranked(viable, rules, order):
            if (by := dominated(m, measured, rules)) is not None:
                plan.verdicts[m.cid] = Verdict.DOMINATED
                plan.why[m.cid] = (
                    f"round {rnd}: upper bound {rules.upper(m):.4g} ≤ {by.cid}'s {rules.score(by):.4g}"
                )
            elif len(entrants) < keep:
                entrants.append(m.cid)
            else:
                plan.verdicts[m.cid], plan.why[m.cid] = Verdict.PRUNED, f"round {rnd}: not in the best {keep}"
        entrants.sort(key=order.__getitem__)
    return plan


@dataclass(frozen=True)
class Margin:
    key: str  # ttft_ms, tpot_ms, e2e_ms
    limit_ms: float
    p99_ms: float | None

    @property
    def fraction(self) -> float | None:
        """(limit - p99) / limit: how much of the SLO is left (None when the p99 is undefined)."""
        return None if self.p99_ms is None else (self.limit_ms - self.p99_ms) / self.limit_ms


@dataclass(frozen=True)
class Choice:
    measurement: Measurement
    score: float
    margins: tuple[Margin, ...]


def choose(plan: Plan, rules: Rules, slo: Mapping[str, float], cids: Sequence[str]) -> Choice | None:
    """The best candidate of the highest round any met the SLO in; None when none ever did."""
    ok = [m for m in plan.latest.values() if m.ok and plan.verdicts.get(m.cid) != Verdict.FAILED]
    if not ok:
        return None
    top = max(m.round for m in ok)
    best = ranked([m for m in ok if m.round == top], rules, {c: i for i, c in enumerate(cids)})[0]
    margins = tuple(Margin(k, v, best.p99_ms.get(k)) for k, v in slo.items())
    return Choice(best, rules.score(best), margins)


@dataclass
class Budget:
    """GPU-seconds the search may hold and has held (trial id → GPU-seconds, every run)."""

    limit_gpu_s: float | None
    spent: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, s: SearchConfig, spent: Mapping[str, float] | None = None) -> Budget:
        limit = None if s.budget_gpu_hours is None else s.budget_gpu_hours * 3600.0
        return cls(limit, dict(spent or {}))

    @property
    def spent_gpu_s(self) -> float:
        return sum(self.spent.values())

    def charge(self, trial_id: str, gpu_s: float) -> None:
        self.spent[trial_id] = self.spent.get(trial_id, 0.0) + max(0.0, gpu_s)

    def admit(self, expected_gpu_s: float, running_gpu_s: Sequence[float] = ()) -> bool:
        """May an instance expected to cost ``expected_gpu_s`` start while ``running_gpu_s`` run?"""
        if self.limit_gpu_s is None:
            return True
        committed = self.spent_gpu_s + sum(running_gpu_s)
        return committed < self.limit_gpu_s and committed + expected_gpu_s <= self.limit_gpu_s


def expected_gpu_s(tp: int, rnd: int, held_s: Mapping[int, Sequence[float]], eta: int) -> float:
    """Expected GPU-seconds of a TP-``tp`` trial of round ``rnd`` from ``held_s`` (round → seconds
    held by its finished trials, per GPU): that round's median, else the nearest earlier round's ×
    eta per round between, else 0 (nothing known)."""
    for earlier in range(rnd, -1, -1):
        if held_s.get(earlier):
            return tp * statistics.median(held_s[earlier]) * eta ** (rnd - earlier)
    return 0.0
