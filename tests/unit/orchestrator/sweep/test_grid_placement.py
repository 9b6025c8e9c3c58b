"""Grid expansion (ids stable and distinct) and placement (pure)."""

from __future__ import annotations

import pytest

from orchestrator.config.store import load_experiment
from orchestrator.core.errors import PlacementError
from orchestrator.execution.capacity import launch_order
from orchestrator.sweep.grid import expand, group_by_engine
from orchestrator.sweep.placement import NodeSpec, check_tp, plan_for


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
    tps = [1, 8, 2, 4]  # instances with no expected cost: placed largest TP first
    assert [tps[k] for k in launch_order(tps, [None] * 4)] == [8, 4, 2, 1]


def test_plan_gpus_by_node_sums_the_bundles_on_each_node() -> None:
    nodes = [NodeSpec(8, 64), NodeSpec(8, 64)]
    assert plan_for(4, 2, nodes).gpus_by_node(["a"]) == {"a": 4.0}
    assert plan_for(16, 2, nodes).gpus_by_node(["a", "b"]) == {"a": 8.0, "b": 8.0}


def test_smoke_trial_ids_did_not_change_with_real_cpu_tp() -> None:
    """engine.distributed_executor_backend is left out of the id while unset (the ids of main)."""
    ids = {(t.tp, t.point.concurrency): t.trial_id for t in expand(load_experiment([]))}
    assert ids == {
        (1, 1): "e82fcae7da2a",
        (1, 4): "40a896210f78",
        (2, 1): "3411766a95eb",
        (2, 4): "cc068de9b405",
    }
    mp = expand(load_experiment(["engine.distributed_executor_backend=mp"]))
    assert {t.trial_id for t in mp}.isdisjoint(ids.values())


def test_cpu_bundles_hold_the_ranks_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU a vLLM bundle holds tp × engine.cpus CPUs, the cores its ranks lease: on a 2-core node
    TP 2 takes both and TP 1 waits for it; two TP 1 instances fit side by side."""
    import orchestrator.sweep.placement as placement
    from orchestrator.config.schema import EngineConfig, ResourcesConfig
    from orchestrator.execution.capacity import Capacity, pick_next
    from orchestrator.sweep.placement import instance_plan, local_cpus_per_node

    nodes = [NodeSpec(8, 2)]
    vllm = EngineConfig()
    tp2, tp1 = instance_plan(vllm, "cpu", 2, nodes), instance_plan(vllm, "cpu", 1, nodes)
    assert tp2.bundles == ({"GPU": 2.0, "CPU": 2.0},) and tp1.bundles == ({"GPU": 1.0, "CPU": 1.0},)
    assert instance_plan(EngineConfig(cpus=2), "cpu", 2, [NodeSpec(8, 4)]).bundles[0]["CPU"] == 4.0
    assert instance_plan(vllm, "gpu", 2, nodes).bundles == ({"GPU": 2.0, "CPU": 1.0},)  # GPU: as before
    assert instance_plan(EngineConfig(name="tgi"), "cpu", 4, nodes).bundles[0]["CPU"] == 1.0
    cap = Capacity.from_nodes({"n": (8.0, 2.0)})
    assert pick_next([tp2, tp1], cap) == 0
    cap.take(tp2, ["n"])
    assert pick_next([tp1], cap) is None  # both cores are TP 2's
    cap.release(tp2, ["n"])
    cap.take(tp1, ["n"])
    assert pick_next([tp2, tp1], cap) == 1  # a second TP 1 backfills the other core
    monkeypatch.setattr(placement, "core_count", lambda: 5)
    assert local_cpus_per_node(ResourcesConfig()) == 5
    assert local_cpus_per_node(ResourcesConfig(num_nodes=2)) == 2  # simulated nodes share the cores
    assert local_cpus_per_node(ResourcesConfig(cpus_per_node=16)) == 16
