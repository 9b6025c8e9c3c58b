"""Repeats: ids stable for one repeat, a repeat index in the id for more, the interleaved order,
warm and cold engine instances, and the aggregate (mean, CI, per-repeat values, unstable)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from engines.standins.fake_trials import make_result, make_trials
from orchestrator.config.schema import StatsConfig
from orchestrator.core.status import Status
from orchestrator.execution.capacity import launch_order
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.aggregate import aggregate, write_aggregates
from orchestrator.sweep.repeats import engine_groups, repeats_of, with_repeats
from workloads.stats import bootstrap_ci


def test_one_repeat_changes_nothing(tmp_path: Path) -> None:
    trials = make_trials(tmp_path)
    assert with_repeats(trials, 1, seed=3) == trials
    assert [t.trial_id for t in with_repeats(trials, 1)] == [t.trial_id for t in trials]
    assert all(t.repeat is None and t.base_id == t.trial_id for t in trials)


def test_repeats_get_their_own_stable_ids_and_an_interleaved_order(tmp_path: Path) -> None:
    trials = make_trials(tmp_path)  # TP {1,2} x concurrency {1,4}
    rep = with_repeats(trials, 3, seed=0)
    assert len(rep) == 12 and len({t.trial_id for t in rep}) == 12
    assert {t.trial_id for t in rep}.isdisjoint({t.trial_id for t in trials})
    assert [t.trial_id for t in with_repeats(trials, 3, seed=0)] == [t.trial_id for t in rep]
    assert [t.trial_id for t in with_repeats(trials, 3, seed=1)] != [t.trial_id for t in rep]
    # round r holds repeat r of every trial; no trial twice in a row
    assert [t.repeat for t in rep] == [0] * 4 + [1] * 4 + [2] * 4
    assert all(a.base_id != b.base_id for a, b in itertools.pairwise(rep))
    assert sorted(repeats_of(rep)) == sorted(t.trial_id for t in trials)
    r1 = next(t for t in rep if t.repeat == 1)
    assert r1.resolved()["repeat"] == 1 and "repeat" not in trials[0].resolved()
    assert r1.name.endswith("-r1")
    # raising the count keeps the ids of the repeats already there (resume runs only the new ones)
    more = {t.trial_id for t in with_repeats(trials, 5, seed=0)}
    assert {t.trial_id for t in rep} <= more


def test_warm_one_instance_per_engine_cold_one_per_round(tmp_path: Path) -> None:
    rep = with_repeats(make_trials(tmp_path), 3, seed=0)
    warm = engine_groups(rep, reuse=True, restart="warm")
    assert [r for r, _ in warm] == [0, 0] and sorted(len(g) for _, g in warm) == [6, 6]
    for _, g in warm:  # the engine's trials in the interleaved order
        assert [t.trial_id for t in g] == [t.trial_id for t in rep if t.group_id == g[0].group_id]
    cold = engine_groups(rep, reuse=True, restart="cold")
    assert sorted(r for r, _ in cold) == [0, 0, 1, 1, 2, 2]
    assert all(len(g) == 2 and {t.repeat for t in g} == {r} for r, g in cold)
    order = launch_order([g[0].tp for _, g in cold], [None] * 6, [r for r, _ in cold])
    assert [cold[i][0] for i in order] == [0, 0, 1, 1, 2, 2]  # rounds in order, TP first within
    assert [cold[i][1][0].tp for i in order] == [2, 1, 2, 1, 2, 1]
    single = engine_groups(rep, reuse=False, restart="warm")
    assert len(single) == 12 and [r for r, _ in single] == [t.repeat for t in rep]
    assert launch_order([2, 1], [None, None]) == launch_order([2, 1], [None, None], [0, 0])


def test_aggregate_mean_ci_values_and_unstable(tmp_path: Path) -> None:
    stats = StatsConfig(level=0.9, seed=7, max_cv=0.1, resamples=2000)
    results = [
        {"trial_id": f"r{i}", "status": "DONE", "metrics": {"ttft_p50_ms": v, "valid": True}, "flags": []}
        for i, v in enumerate((10.0, 11.0, 12.0))
    ]
    out = aggregate(results, stats)
    assert out["status"] == "DONE" and out["metrics"]["ttft_p50_ms"] == pytest.approx(11.0)
    iv = bootstrap_ci([10.0, 11.0, 12.0], 0.9, resamples=2000, seed=7)
    ci = out["ci"]["metrics"]["ttft_p50_ms"]
    assert (ci["low"], ci["high"], ci["n"]) == (iv.low, iv.high, 3) and ci["low"] < 11.0 < ci["high"]
    assert out["ci"]["level"] == 0.9 and "valid" not in out["metrics"]  # booleans are not averaged
    assert out["repeats"]["values"]["ttft_p50_ms"] == [10.0, 11.0, 12.0]
    assert out["flags"] == []  # CV 9.1% <= 10%
    results[2]["metrics"]["ttft_p50_ms"] = 20.0
    (flag,) = aggregate(results, stats)["flags"]
    assert flag["kind"] == "unstable" and not flag["fails"] and "ttft_p50_ms CV" in flag["reason"]
    results[1] = {"trial_id": "r1", "status": "FAILED", "reason": "oom", "metrics": {}, "flags": []}
    part = aggregate(results, stats)
    assert part["status"] == "DONE" and part["repeats"]["done"] == 2
    assert "1 of 3 repeats failed" in part["flags"][0]["reason"]
    none = aggregate([results[1]], stats)
    assert none["status"] == "FAILED" and none["reason"] == "oom" and none["metrics"] == {}


def test_aggregates_written_and_read_in_place_of_their_repeats(tmp_path: Path) -> None:
    rep = with_repeats(make_trials(tmp_path), 2, seed=0)
    store = ResultsStore(tmp_path, "s")
    for t in rep[:-1]:
        store.write(t, make_result(t))
    assert len(write_aggregates(store, rep, StatsConfig())) == 3  # the fourth misses a repeat
    store.write(rep[-1], make_result(rep[-1]))
    assert len(write_aggregates(store, rep, StatsConfig())) == 4
    assert store.done_ids() == {t.trial_id for t in rep}  # aggregates are not trials
    stored = store.read(rep[0].trial_id)
    assert stored is not None and stored["repeat"] == rep[0].repeat and stored["config_id"] == rep[0].base_id
    sweep = store.load()
    assert len(sweep.trials) == 8 and len(sweep.aggregates) == 4
    reported = sweep.reported()
    assert len(reported) == 4 and all(t.is_aggregate and len(t.members) == 2 for t in reported)
    agg = store.trial(rep[0].base_id, aggregate=True)
    assert agg.status == Status.DONE and agg.result["repeats"]["trial_ids"] == [
        t.trial_id for t in sorted(repeats_of(rep)[rep[0].base_id], key=lambda t: t.repeat or 0)
    ]
    assert "repeat" not in agg.config


def test_aggregate_run_record_has_ci_bounds_and_per_repeat_series(tmp_path: Path) -> None:
    from orchestrator.tracking.compare import from_store
    from orchestrator.tracking.run_record import record_of

    rep = with_repeats(make_trials(tmp_path), 3, seed=0)
    store = ResultsStore(tmp_path, "s")
    for t in rep:
        store.write(t, make_result(t))
    write_aggregates(store, rep, StatsConfig())
    config_id = rep[0].base_id
    record = record_of(store.trial(config_id, aggregate=True))
    assert record.tags["aggregate"] == "true" and record.tags["repeats"] == "3"
    assert record.tags["trial_id"] == config_id and "repeat" not in record.tags
    assert (
        record.metrics["ttft_p50_ms_ci_low"]
        <= record.metrics["ttft_p50_ms"]
        <= record.metrics["ttft_p50_ms_ci_high"]
    )
    series = [(step, v) for k, v, step in record.series if k == "repeats/ttft_p50_ms"]
    assert [s for s, _ in series] == [0, 1, 2]
    repeat = record_of(store.trial(rep[0].trial_id))
    assert repeat.tags["config_id"] == config_id and repeat.tags["repeat"] == str(rep[0].repeat)
    df = from_store(tmp_path, "s")
    assert len(df) == 16 and int(df["aggregate"].sum()) == 4
    assert set(df[df["aggregate"]]["config_id"]) == {t.base_id for t in rep}
    assert sorted(df[~df["aggregate"]]["repeat"].tolist()) == [0] * 4 + [1] * 4 + [2] * 4
