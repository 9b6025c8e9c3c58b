"""The search's rules with scripted measurements: successive halving, dominance, the budget, the
choice and its margin to the SLO."""

from __future__ import annotations

import pytest

from orchestrator.config.search import Objective, SearchConfig
from orchestrator.core.status import FailureReason, Status
from orchestrator.search.measure import Measurement
from orchestrator.search.policy import Budget, Rules, Verdict, choose, dominated, expected_gpu_s, replay


def m(cid: str, rnd: int, rate: float | None, *, tp: int = 1, upper: float | None = None,
      tok: float = 10.0, status: Status = Status.DONE, reason: str | None = None,
      startup: float = 50.0) -> Measurement:  # fmt: skip
    """A measurement whose goodput is rate × tok output tokens/s (upper bound: ``upper`` × tok)."""
    return Measurement(
        cid, rnd, f"{cid}-r{rnd}", tp, status, reason, rate=rate, rate_upper=upper if upper else rate,
        tokens_per_request=tok, goodput=(rate or 0.0) * tok, p99_ms={"ttft_ms": 100.0, "tpot_ms": 20.0},
        tpot_p50_ms=10.0, startup_s=startup,
    )  # fmt: skip


RULES = Rules(rounds=3, eta=2, slack=0.0)


def test_round_zero_runs_everyone_then_halving_keeps_the_best_half() -> None:
    cids = ["a", "b", "c", "d"]
    plan = replay(cids, {}, RULES)
    assert (plan.next_round, plan.todo) == (0, cids)
    results = {(c, 0): m(c, 0, r, upper=10.0) for c, r in zip(cids, [1.0, 4.0, 3.0, 2.0], strict=True)}
    plan = replay(cids, results, RULES)
    assert (plan.next_round, plan.todo) == (1, ["b", "c"])  # best 2 of 4, in config order
    assert plan.verdicts["a"] == plan.verdicts["d"] == Verdict.PRUNED
    results.update({("b", 1): m("b", 1, 4.0, upper=4.5), ("c", 1): m("c", 1, 3.5, upper=3.8)})
    plan = replay(cids, results, RULES)
    assert (plan.next_round, plan.todo) == (2, ["b"])
    results[("b", 2)] = m("b", 2, 4.2)
    plan = replay(cids, results, RULES)
    assert plan.next_round is None and plan.verdicts["b"] == Verdict.MEASURED
    assert plan.latest["b"].round == 2 and plan.latest["a"].round == 0


def test_dominated_candidates_are_skipped_even_inside_the_kept_fraction() -> None:
    cids = ["a", "b", "c", "d"]
    # a: 8 req/s measured; b and c would be kept by halving (best 2 of 4) but c's bound, 3, is below a's 8
    results = {("a", 0): m("a", 0, 8.0), ("b", 0): m("b", 0, 6.0, upper=9.0),
               ("c", 0): m("c", 0, 2.5, upper=3.0), ("d", 0): m("d", 0, 1.0)}  # fmt: skip
    plan = replay(cids, results, Rules(rounds=2, eta=1, slack=0.0))  # eta 1: halving alone keeps all
    assert plan.todo == ["a", "b"]
    assert plan.verdicts["c"] == plan.verdicts["d"] == Verdict.DOMINATED
    assert "upper bound" in plan.why["c"]


def test_dominance_needs_no_more_gpus_and_the_slack() -> None:
    small = m("s", 0, 5.0, tp=1)
    big = m("b", 0, 8.0, tp=2, upper=9.0)  # per GPU: 40 tok/s, bound 45
    assert dominated(big, [small], RULES) is not None  # 50 tok/s/GPU ≥ 45 with fewer GPUs
    assert dominated(m("s2", 0, 3.0, tp=1, upper=4.0), [big], RULES) is None  # big has more GPUs
    assert dominated(big, [small], Rules(slack=0.2)) is None  # 50 < 45 × 1.2
    assert dominated(m("x", 0, 4.0, upper=4.5), [m("y", 1, 5.0)], RULES) is not None  # a later round counts
    assert dominated(m("x", 1, 4.0, upper=4.5), [m("y", 0, 5.0)], RULES) is None  # an earlier one does not
    a, b = m("a", 0, 4.0), m("b", 0, 4.0)  # equal, bounds = scores, no slack: neither dominates the other
    assert dominated(a, [b], RULES) is None and dominated(b, [a], RULES) is None


def test_failed_and_no_slo_rate_drop_out_the_search_goes_on() -> None:
    cids = ["ok", "oom", "slow"]
    results = {("ok", 0): m("ok", 0, 2.0),
               ("oom", 0): m("oom", 0, None, status=Status.FAILED, reason="oom"),
               ("slow", 0): m("slow", 0, None)}  # fmt: skip
    plan = replay(cids, results, Rules(rounds=2))
    assert plan.todo == ["ok"]
    assert plan.verdicts["oom"] == Verdict.FAILED and plan.why["oom"].startswith("oom")
    assert plan.verdicts["slow"] == Verdict.NO_SLO_RATE


def test_an_interrupted_trial_is_measured_again() -> None:
    results = {("a", 0): m("a", 0, None, status=Status.FAILED, reason=FailureReason.INTERRUPTED)}
    plan = replay(["a"], results, Rules(rounds=1))
    assert (plan.next_round, plan.todo) == (0, ["a"])


def test_choice_and_margin() -> None:
    cids = ["a", "b", "c"]
    results = {("a", 0): m("a", 0, 2.0), ("b", 0): m("b", 0, 6.0, tp=2), ("c", 0): m("c", 0, 3.0, tp=1),
               ("c", 1): m("c", 1, 3.2), ("b", 1): m("b", 1, 6.0, tp=2)}  # fmt: skip
    rules = Rules(rounds=2, eta=2, slack=0.5)
    plan = replay(cids, results, rules)
    assert plan.next_round is None
    choice = choose(plan, rules, {"ttft_ms": 500.0, "tpot_ms": 50.0}, cids)
    assert choice is not None and choice.measurement.cid == "c"  # 32 tok/s/GPU beats b's 30
    assert choice.score == pytest.approx(32.0)
    assert [(x.key, x.fraction) for x in choice.margins] == [("ttft_ms", 0.8), ("tpot_ms", 0.6)]


def test_choice_ties_go_to_fewer_gpus_and_none_when_nothing_met_the_slo() -> None:
    results = {("a", 0): m("a", 0, 8.0, tp=2), ("b", 0): m("b", 0, 4.0, tp=1)}
    plan = replay(["a", "b"], results, Rules(rounds=1))
    choice = choose(plan, Rules(rounds=1), {"ttft_ms": 500.0}, ["a", "b"])
    assert choice is not None and choice.measurement.cid == "b"
    plan = replay(["a"], {("a", 0): m("a", 0, None)}, Rules(rounds=1))
    assert choose(plan, Rules(rounds=1), {"ttft_ms": 500.0}, ["a"]) is None


def test_per_gpu_hour_objective_counts_the_start_up() -> None:
    fast, slow = m("fast", 0, 4.0, startup=0.0), m("slow", 0, 4.2, startup=3600.0)
    rules = Rules(rounds=1, objective=Objective.GOODPUT_PER_GPU_HOUR, lifetime_s=3600.0)
    assert rules.score(fast) == pytest.approx(40.0 * 3600)
    assert rules.score(slow) == pytest.approx(42.0 * 3600 / 2)  # half its GPU-hours go to start-up
    plan = replay(["fast", "slow"], {("fast", 0): fast, ("slow", 0): slow}, rules)
    choice = choose(plan, rules, {"ttft_ms": 500.0}, ["fast", "slow"])
    assert choice is not None and choice.measurement.cid == "fast"
    per_gpu = choose(plan, Rules(rounds=1), {"ttft_ms": 500.0}, ["fast", "slow"])
    assert per_gpu is not None and per_gpu.measurement.cid == "slow"


def test_budget_admits_while_spent_plus_committed_fits() -> None:
    budget = Budget.of(SearchConfig(budget_gpu_hours=1.0), {"t0": 1800.0})
    assert budget.limit_gpu_s == 3600.0 and budget.spent_gpu_s == 1800.0
    assert budget.admit(1000.0, [500.0])
    assert not budget.admit(1000.0, [1000.0])  # 1800 + 1000 + 1000 > 3600
    assert budget.admit(0.0, [1700.0])  # unknown cost: starts while anything is left
    budget.charge("t1", 1800.0)
    assert not budget.admit(0.0)
    assert Budget.of(SearchConfig()).admit(1e12)  # no budget


def test_expected_cost_from_the_round_or_the_one_before() -> None:
    held = {0: [100.0, 300.0, 200.0]}
    assert expected_gpu_s(2, 0, held, eta=2) == 400.0  # median 200 s per GPU × TP 2
    assert expected_gpu_s(1, 1, held, eta=2) == 400.0  # round 1 is eta times longer
    assert expected_gpu_s(1, 1, {**held, 1: [250.0]}, eta=2) == 250.0
    assert expected_gpu_s(4, 0, {}, eta=2) == 0.0
