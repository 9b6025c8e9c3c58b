"""Each round's trial: fidelity by round, the search's SLOs, ids that do not depend on the budget."""

from __future__ import annotations

from orchestrator.config.store import load_experiment
from orchestrator.search.space import expand
from orchestrator.search.trials import all_trials, fidelity, round_point


def test_rounds_grow_by_eta_to_the_configured_workload() -> None:
    cfg = load_experiment(["search=slo", "search.rounds=3", "search.eta=3", "workload.num_requests=90",
                           "search.min_requests=5", "workload=sla_search"])  # fmt: skip
    its = cfg.workload.sla.iterations
    assert [fidelity(cfg, r) for r in range(3)] == [(10, its - 2), (30, its - 1), (90, its)]
    cfg.workload.num_requests = 12
    assert fidelity(cfg, 0) == (5, max(1, its - 2))  # at least min_requests


def test_round_point_is_an_sla_search_with_the_search_slos() -> None:
    cfg = load_experiment(["+exp=smoke_search"])  # workload.name would not matter: sla_search is measured
    p = round_point(cfg, 1)
    assert p.name == "sla_search" and p.num_requests == 24 and p.sla_iterations == 2
    assert dict(p.slo) == {"ttft_ms": 150.0, "tpot_ms": 50.0}
    assert round_point(load_experiment(["search=slo", "workload=poisson"]), 0).name == "sla_search"


def test_trial_ids_do_not_depend_on_budget_or_candidates() -> None:
    cfg = load_experiment(["+exp=smoke_search"])
    trials = all_trials(cfg, expand(cfg))
    assert len(trials) == 3 * 2 and len({t.trial_id for t in trials.values()}) == 6
    richer = load_experiment(
        ["+exp=smoke_search", "search.budget_gpu_hours=5", "++search.space={engine.max_num_seqs:[2,8,16]}"]
    )
    again = all_trials(richer, expand(richer))
    assert {k: t.trial_id for k, t in trials.items()}.items() <= {
        k: t.trial_id for k, t in again.items()
    }.items()
    t = next(iter(trials.values()))
    assert t.group_id == next(iter(trials))[0] and t.name.startswith("vllm-tp1-max_num_seqs2-sla_search")
