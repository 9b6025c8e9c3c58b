"""Launch order from earlier sweeps' durations: largest TP first, then longest known first."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.config.store import load_experiment
from orchestrator.execution.capacity import instance_cost, launch_order
from orchestrator.store.reader import load_durations
from orchestrator.sweep.grid import expand


def test_largest_tp_first_then_longest_known_first() -> None:
    tps = [1, 8, 1, 8, 2]
    costs = [10.0, 20.0, 30.0, 5.0, None]
    assert launch_order(tps, costs) == [1, 3, 4, 2, 0]


def test_unknown_costs_keep_the_config_order_and_count_as_the_tp_median() -> None:
    assert launch_order([2, 2, 2], [None, None, None]) == [0, 1, 2]
    # median known at TP 1 is 20: the unknown one goes between 30 and 10
    assert launch_order([1, 1, 1, 1], [10.0, None, 30.0, 20.0]) == [2, 1, 3, 0]


def write_result(root: Path, sweep: str, trial_id: str, status: str, start: float, end: float) -> None:
    d = root / sweep / "trials" / trial_id
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({"status": status, "started_at": start, "ended_at": end}))


def test_durations_from_every_sweep_done_only_median(tmp_path: Path) -> None:
    write_result(tmp_path, "a", "t1", "DONE", 100.0, 110.0)
    write_result(tmp_path, "b", "t1", "DONE", 200.0, 230.0)
    write_result(tmp_path, "c", "t1", "DONE", 300.0, 320.0)
    write_result(tmp_path, "a", "t2", "FAILED", 100.0, 101.0)
    (tmp_path / "a" / "trials" / "t3").mkdir()
    (tmp_path / "a" / "trials" / "t3" / "result.json").write_text("{not json")
    assert load_durations(tmp_path, {"t1", "t2", "t3"}) == {"t1": 20.0}
    assert load_durations(tmp_path, {"t2"}) == {}  # only the trials asked for are read
    assert load_durations(tmp_path / "missing", {"t1"}) == {}


def test_instance_cost_needs_every_trial_known() -> None:
    trials = expand(load_experiment(["workload.concurrency=[1,2]"]))[:2]
    ids = [t.trial_id for t in trials]
    assert instance_cost(trials, {ids[0]: 3.0, ids[1]: 4.5}) == 7.5
    assert instance_cost(trials, {ids[0]: 3.0}) is None


def test_at_once_packs_the_smallest_shape_on_gpus_and_cpus() -> None:
    from orchestrator.execution.capacity import at_once
    from orchestrator.sweep.placement import NodeSpec, plan_for

    eight = [NodeSpec(8, 64)]
    assert at_once([plan_for(tp, 1, eight) for tp in (8, 4, 2)], eight) == 2  # 2 and 4 together, 8 after
    assert at_once([plan_for(8, 1, eight)] * 3, eight) == 1
    assert at_once([plan_for(2, 1, eight)] * 5, eight) == 4
    two_cores = [NodeSpec(8, 2)]  # CPU ranks lease cores: TP 2 takes both, so one at a time
    assert at_once([plan_for(2, 2, two_cores), plan_for(1, 1, two_cores)], two_cores) == 1
    assert at_once([plan_for(1, 1, two_cores)] * 5, two_cores) == 2
    assert at_once([plan_for(16, 1, [NodeSpec(8, 8)] * 2)], [NodeSpec(8, 8)] * 2) == 1
    assert at_once([], eight) == 1


def test_at_once_is_capped_by_max_concurrent_engines() -> None:
    from orchestrator.execution.capacity import at_once
    from orchestrator.sweep.placement import NodeSpec, plan_for

    eight = [NodeSpec(8, 64)]
    plans = [plan_for(1, 1, eight)] * 5
    assert (
        at_once(plans, eight, None) == 5 and at_once(plans, eight, 2) == 2 and at_once(plans, eight, 9) == 5
    )
