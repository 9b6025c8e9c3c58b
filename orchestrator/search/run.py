"""The search's driver: each round's candidates run at once on the cluster through the scheduler,
and the next round is decided from what the results store then holds.

Every candidate of a round is one engine instance of its TP running one ``sla_search`` trial
(:mod:`orchestrator.search.trials`), so the scheduler packs the round's candidates on the cluster
side by side (largest TP first, backfilling), records a start-up failure, an OOM or a crash as a
FAILED trial with its reason and engine log, and goes on. Between rounds :func:`policy.replay`
reads the store: the state of the search is its stored trials, so an interrupted search, rerun
with the same ``sweep_id``, replays what it measured and runs only what is missing. The GPU-seconds
each instance held (placement to release, start-up included) are charged to the search's ledger
in ``sweep.json`` (kept across runs); the scheduler's ``admit`` hook starts an instance only while
the budget allows it (:class:`policy.Budget`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.results import TrialResult
from orchestrator.core.trial import Trial
from orchestrator.execution.accounting import sweep_cost
from orchestrator.execution.cluster import RayCluster
from orchestrator.search.measure import Measurement, from_result
from orchestrator.search.policy import Budget, Plan, Rules, Verdict, expected_gpu_s, replay
from orchestrator.search.space import Candidate
from orchestrator.search.trials import all_trials, fidelity
from orchestrator.store.reader import load_durations
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.placement import NodeSpec, check_instance

if TYPE_CHECKING:
    from orchestrator.execution.instance import Instance  # imports Ray

LEDGER = "search"  # the sweep.json key of the search's records


class RoundView(Protocol):
    """What the search tells the user while it runs (the CLI's live or plain view)."""

    def start(self, trials: Sequence[Trial], estimates: Mapping[str, float], parallel: int) -> None: ...
    def trial(self, trial: Trial, result: TrialResult) -> None: ...
    def note(self, text: str) -> None: ...


class SearchRun:
    """One run of the search over ``candidates``, recording into ``store``."""

    def __init__(
        self,
        cfg: ExperimentConfig,
        candidates: Sequence[Candidate],
        store: ResultsStore,
        cluster: RayCluster,
        view: RoundView,
        watch: Callable[[Instance], None],
        on_round: Callable[[Plan], None] | None = None,  # after each round (MLflow's candidate runs)
    ) -> None:
        self.cfg, self.store, self.cluster, self.view, self.watch = cfg, store, cluster, view, watch
        self.on_round = on_round
        self.candidates = {c.cid: c for c in candidates}
        self.order = [c.cid for c in candidates]
        self.rules = Rules.of(cfg.search)
        self.trials = all_trials(cfg, candidates)  # (candidate id, round) → trial
        self.round_of = {t.trial_id: r for (_, r), t in self.trials.items()}
        self.tp_of = {t.trial_id: t.tp for t in self.trials.values()}
        ledger = store.sweep_meta().get(LEDGER) or {}
        self.budget = Budget.of(cfg.search, ledger.get("gpu_seconds") or {})
        self.running: dict[int, Instance] = {}
        self.refused: set[str] = set()  # candidates the budget kept from starting in this run
        self.held: list[tuple[int, float, float]] = []  # (GPUs, placed, released) of this run's instances
        self.nodes: list[NodeSpec] | None = None
        self._warned = False
        self._measured: dict[tuple[str, int], Measurement] | None = None  # the store's, as last read

    def measurements(self) -> dict[tuple[str, int], Measurement]:
        """(candidate id, round) → what the store holds; read again only after a result was written."""
        if self._measured is None:
            self._measured = {}
            for (cid, rnd), t in self.trials.items():
                stored = self.store.read(t.trial_id)
                if stored is not None:
                    self._measured[(cid, rnd)] = from_result(stored, cid, rnd, t.point.output_len)
        return self._measured

    def plan(self) -> Plan:
        """The search replayed from the store, the candidates the budget refused marked so."""
        plan = replay(self.order, self.measurements(), self.rules)
        for cid in self.refused & set(plan.todo):
            plan.verdicts[cid] = Verdict.OVER_BUDGET
            plan.why[cid] = f"not run in round {plan.next_round}: the GPU-hour budget was spent"
        return plan

    def run(self) -> Plan:
        """Round after round until the search is complete or nothing more may run."""
        tried: set[tuple[int, tuple[str, ...]]] = set()
        while (plan := self.plan()).next_round is not None:
            key = (plan.next_round, tuple(plan.todo))
            if key in tried:  # ran already in this run: refused by the budget (or not recorded)
                break
            tried.add(key)
            self.run_round(plan.next_round, plan.todo)
            if self.on_round is not None:
                self.on_round(self.plan())
        self.store.update_sweep_meta(cost=sweep_cost(self.held, self.cfg.cost.gpu_hour_usd))
        return self.plan()

    def run_round(self, rnd: int, cids: Sequence[str]) -> None:
        # these import Ray: only when there is work
        from orchestrator.execution.instance import instances_at_once
        from orchestrator.execution.scheduler import Scheduler

        trials = [self.trials[(c, rnd)] for c in cids]
        requests, steps = fidelity(self.cfg, rnd)
        self.view.note(
            f"search {self.store.sweep_id}: round {rnd + 1}/{self.rules.rounds}, {len(trials)} candidate(s), "
            f"{requests} requests per probe, up to {steps} bisection step(s)"
        )
        if not self.budget.admit(0.0):
            self._refuse(cids)
            return
        nodes = self._open()
        durations = load_durations(self.store.root, {t.trial_id for t in trials})
        self.view.start(trials, durations, instances_at_once(trials, self.cfg, nodes))
        scheduler = Scheduler(
            self.cfg, self.store.sweep_id, nodes, self._on_result, durations, self._on_instance, self._admit
        )
        try:
            scheduler.run(trials)
        finally:
            self._refuse([t.group_id for inst in scheduler.pending for t in inst.queue])
            self.held += [(i.plan.gpus, i.placed_at, i.released_at) for i in scheduler.finished]
            self.save()

    def save(self) -> None:
        """The ledger in ``sweep.json``: GPU-seconds per trial over every run, and the budget."""
        spent = self.budget.spent_gpu_s
        limit = self.cfg.search.budget_gpu_hours
        self.store.update_sweep_meta(
            **{
                LEDGER: {
                    "gpu_seconds": self.budget.spent,
                    "spent_gpu_hours": spent / 3600,
                    "budget_gpu_hours": limit,
                }
            }
        )

    def _open(self) -> list[NodeSpec]:
        """The cluster, opened on the first round with work; the candidates' TPs and bundles
        checked against its real nodes."""
        if self.nodes is None:
            self.view.note(f"search {self.store.sweep_id}: {len(self.order)} candidate(s); starting Ray")
            self.cluster.open()
            self.nodes = self.cluster.nodes()
            for c in self.candidates.values():
                check_instance(c.engine, self.cfg.resources.device, c.tp, self.nodes)
        return self.nodes

    def _on_result(self, trial: Trial, result: TrialResult) -> None:
        self.store.write(trial, result)
        self._measured = None
        self.view.trial(trial, result)

    def _on_instance(self, inst: Instance) -> None:
        """The view's watch, and the ledger: an instance's GPU-seconds once it is released."""
        self.watch(inst)
        if inst.released_at and self.running.pop(id(inst), None) is not None:
            self.budget.charge(inst.trials[0].trial_id, inst.plan.gpus * (inst.released_at - inst.placed_at))
        elif inst.placed_at and not inst.released_at:
            self.running[id(inst)] = inst

    def _expected(self, trial_id: str) -> float:
        per_gpu: dict[int, list[float]] = {}
        for tid, gpu_s in self.budget.spent.items():
            if tid in self.round_of:
                per_gpu.setdefault(self.round_of[tid], []).append(gpu_s / self.tp_of[tid])
        return expected_gpu_s(
            self.tp_of.get(trial_id, 1), self.round_of.get(trial_id, 0), per_gpu, self.rules.eta
        )

    def _admit(self, trials: Sequence[Trial]) -> bool:
        now = time.time()
        running = [
            max(self._expected(i.trials[0].trial_id), i.plan.gpus * (now - i.placed_at))
            for i in self.running.values()
        ]
        ok = self.budget.admit(self._expected(trials[0].trial_id), running)
        if not ok and not self._warned:
            self._warned = True
            self.view.note(
                f"[yellow]budget[/] {self.budget.spent_gpu_s / 3600:.3g} of "
                f"{self.cfg.search.budget_gpu_hours:g} GPU-hours spent or committed: no more instances start"
            )
        return ok

    def _refuse(self, cids: Sequence[str]) -> None:
        self.refused |= set(cids)

    def spent_by_candidate(self) -> dict[str, float]:
        """Candidate id → GPU-seconds its trials held, over every run."""
        cid_of = {t.trial_id: cid for (cid, _), t in self.trials.items()}
        out: dict[str, float] = {}
        for tid, gpu_s in self.budget.spent.items():
            if tid in cid_of:
                out[cid_of[tid]] = out.get(cid_of[tid], 0.0) + gpu_s
        return out

    def history(self) -> dict[str, list[Measurement]]:
        """Candidate id → its measurements, round order."""
        out: dict[str, list[Measurement]] = {}
        for (cid, _), m in sorted(self.measurements().items(), key=lambda kv: kv[0][1]):
            out.setdefault(cid, []).append(m)
        return out
