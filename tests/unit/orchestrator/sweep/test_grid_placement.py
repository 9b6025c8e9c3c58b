"""Grid expansion (ids stable and distinct) and placement (pure)."""

from __future__ import annotations

import pytest

from orchestrator.config.store import load_experiment
from orchestrator.core.errors import PlacementError
from orchestrator.sweep.grid import expand, group_by_engine
from orchestrator.sweep.placement import NodeSpec, check_tp, largest_first, plan_for


def test_grid_is_the_product_of_axes() -> None:
    cfg = load_experiment(
        ["engine.tp=[1,2,4]", "workload.concurrency=[1,4,8]", "workload.output_len=[16,32]"]
    )
    trials = expand(cfg)
    assert len(trials) == 3 * 3 * 2
    assert len({t.trial_id for t in trials}) == len(trials)
    groups = group_by_engine(trials)
    assert len(groups) == 3
    assert all(len(g) == 6 for g in groups.values())


def test_ids_are_stable_across_runs_and_order() -> None:
    a = expand(load_experiment(["engine.tp=[1,2]"]))
    b = expand(load_experiment(["engine.tp=[2,1]"]))
    assert {t.trial_id for t in a} == {t.trial_id for t in b}
    assert [t.trial_id for t in a] == [t.trial_id for t in expand(load_experiment(["engine.tp=[1,2]"]))]


def test_ids_change_with_config() -> None:
    a = {t.trial_id for t in expand(load_experiment([]))}
    b = {t.trial_id for t in expand(load_experiment(["engine.max_num_seqs=8"]))}
    c = {t.trial_id for t in expand(load_experiment(["workload.num_requests=8"]))}
    assert not a & b and not a & c


def test_reuse_flag_does_not_change_ids() -> None:
    a = {t.trial_id for t in expand(load_experiment([]))}
    b = {t.trial_id for t in expand(load_experiment(["engine.reuse=false"]))}
    assert a == b


def test_plan_single_node() -> None:
    plan = plan_for(4, 2, [NodeSpec(8, 16)])
    assert plan.bundles == ({"GPU": 4.0, "CPU": 2.0},)
    assert plan.strategy == "STRICT_PACK" and plan.gpus == 4


def test_plan_spans_nodes() -> None:
    plan = plan_for(16, 1, [NodeSpec(8, 16), NodeSpec(8, 16)])
    assert plan.strategy == "STRICT_SPREAD"
    assert plan.bundles == ({"GPU": 8.0, "CPU": 1.0}, {"GPU": 8.0, "CPU": 1.0})


@pytest.mark.parametrize(
    ("tp", "nodes"),
    [
        (3, [NodeSpec(8, 8)]),
        (16, [NodeSpec(8, 8)]),
        (8, [NodeSpec(4, 8)]),
        (16, [NodeSpec(8, 8), NodeSpec(4, 8)]),
        (1, [NodeSpec(0, 8)]),  # a GPU-less machine: a config error, not a ZeroDivisionError
    ],
)
def test_infeasible(tp: int, nodes: list[NodeSpec]) -> None:
    with pytest.raises(PlacementError) as err:
        check_tp(tp, nodes)
    assert err.value.field == "engine.tp"


def test_largest_first() -> None:
    assert largest_first([1, 8, 2, 4]) == [8, 4, 2, 1]


def test_plan_gpus_by_node_sums_the_bundles_on_each_node() -> None:
    nodes = [NodeSpec(8, 64), NodeSpec(8, 64)]
    assert plan_for(4, 2, nodes).gpus_by_node(["a"]) == {"a": 4.0}
    assert plan_for(16, 2, nodes).gpus_by_node(["a", "b"]) == {"a": 8.0, "b": 8.0}
