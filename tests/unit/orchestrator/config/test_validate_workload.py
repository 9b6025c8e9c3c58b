"""Strategy configs: every conf/workload option composes and expands; bad values name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engines.registry import registry
from orchestrator.config.store import group_options, load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.core.load import STRATEGIES
from orchestrator.sweep.checks import validate
from orchestrator.sweep.grid import expand
from orchestrator.sweep.placement import planned_nodes


def check(overrides: list[str]) -> list[str]:
    cfg = load_experiment(overrides)
    validate(cfg, registry().keys(), planned_nodes(cfg.resources))
    return [t.point.label() for t in expand(cfg)]


def test_every_strategy_has_a_config_file() -> None:
    assert set(group_options("workload")) == set(STRATEGIES)
    for name in STRATEGIES:
        assert check([f"workload={name}", "engine.tp=[1]"])


def test_strategy_axes_become_trials() -> None:
    rates = ["workload=poisson", "engine.tp=[1]", "workload.rate=[1,2.5]", "workload.output_len=[8,16]"]
    assert check(rates) == [
        "poisson-r1-in64-out8", "poisson-r2.5-in64-out8", "poisson-r1-in64-out16", "poisson-r2.5-in64-out16",
    ]  # fmt: skip
    assert check(["workload=static_batch", "engine.tp=[1]", "workload.batch_sizes=[1,8]"]) == [
        "b1-in64-out32",
        "b8-in64-out32",
    ]
    assert check(["workload=sla_search", "engine.tp=[1,2]"]) == ["sla_search-in64-out32"] * 2


def test_trial_ids_are_stable_and_ignore_unused_fields() -> None:
    """Ids hash the resolved config: same config → same id; a field the strategy ignores leaves it."""
    base = ["workload=poisson", "engine.tp=[1]"]
    ids = [t.trial_id for t in expand(load_experiment(base))]
    assert ids == [t.trial_id for t in expand(load_experiment(base))]
    assert ids == [t.trial_id for t in expand(load_experiment([*base, "workload.batch_sizes=[3]"]))]
    assert ids != [t.trial_id for t in expand(load_experiment([*base, "workload.rate=[2]"]))]
    conc = expand(load_experiment(["workload.rate=[9]", "workload.burstiness=0.1"]))
    assert [t.trial_id for t in conc] == [t.trial_id for t in expand(load_experiment([]))]
    assert "rate" not in conc[0].resolved()["workload"]


def test_point_carries_the_strategy_fields() -> None:
    cfg = load_experiment(
        ["workload=gamma", "workload.burstiness=0.3", "workload.duration_s=5", "engine.tp=[1]"]
    )
    spec = expand(cfg)[0].point
    assert (spec.name, spec.rate, spec.burstiness, spec.duration_s) == ("gamma", 1.0, 0.3, 5.0)
    sla = expand(load_experiment(["workload=sla_search", "engine.tp=[1]"]))[0].point
    assert sla.slo == (("ttft_ms", 1000.0),) and sla.sla_iterations == 5 and sla.sla_max_rate is None


def test_sharegpt_path_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "sg.json"
    good.write_text(json.dumps([{"conversations": [{"value": "w1 w2"}, {"value": "w3"}]}]))
    cfg = ["workload=poisson", "engine.tp=[1]", "workload.dataset.kind=sharegpt"]
    labels = check([*cfg, f"workload.dataset.path={good}"])
    assert labels == ["poisson-r1-in64-out32"]
    with pytest.raises(ConfigError) as err:
        check([*cfg, f"workload.dataset.path={tmp_path / 'missing.json'}"])
    assert err.value.field == "workload.dataset.path" and "no such file" in str(err.value)


def test_conversation_points_and_their_labels(tmp_path: Path) -> None:
    conv = ["engine.tp=[1]", "workload.dataset.kind=conversation", "workload.dataset.turns=3"]
    assert check([*conv, "workload.concurrency=[2]"]) == ["c2-in64-out32-turns3"]
    cfg = load_experiment([*conv, "workload=poisson", "workload.dataset.think_time_s=0.5"])
    (trial,) = expand(cfg)
    assert (trial.point.turns, trial.point.think_time_s, trial.point.dataset_path) == (3, 0.5, None)
    assert trial.point.label() == "poisson-r1-in64-out32-turns3"
    sg = tmp_path / "sg.json"
    sg.write_text(
        json.dumps([{"conversations": [{"from": "human", "value": "w1"}, {"from": "gpt", "value": "w2"}]}])
    )
    assert check([*conv, f"workload.dataset.path={sg}", "workload.concurrency=[1]"]) == [
        "c1-in64-out32-turns3"
    ]
    sg.write_text(json.dumps([{"conversations": [{"from": "gpt", "value": "w2"}]}]))
    with pytest.raises(ConfigError) as err:
        check([*conv, f"workload.dataset.path={sg}"])
    assert err.value.field == "workload.dataset.path" and "user/assistant exchange" in str(err.value)


def test_trace_points_and_a_malformed_trace(tmp_path: Path) -> None:
    (trial,) = expand(load_experiment(["workload=trace", "engine.tp=[1]"]))
    p = trial.point
    assert (p.name, p.trace_format, p.time_scale, p.trace_block_size) == ("trace", "auto", 1.0, 512)
    assert p.trace_path == "conf/workload/traces/sample_mooncake.jsonl" and p.label() == "trace"
    assert (p.input_len, p.output_len) == (0, 0)  # the rows' own lengths, uncapped
    caps = ["workload.trace.max_input_len=128", "workload.trace.time_scale=0.5"]
    (capped,) = expand(load_experiment(["workload=trace", "engine.tp=[1]", *caps]))
    assert capped.point.label() == "trace-in128-x0.5" and capped.point.input_len == 128
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"timestamp": 0, "input_length": 5, "output_length": 1}\n{"timestamp": 3, "input_length": 5}\n'
    )
    with pytest.raises(ConfigError) as err:
        check(["workload=trace", "engine.tp=[1]", f"workload.trace.path={bad}"])
    assert err.value.field == "workload.trace.path"
    assert "line 2: missing field 'output_length' or 'output_tokens'" in str(err.value)


def test_new_fields_leave_the_ids_of_other_points_alone() -> None:
    """turns, think time and the trace fields are strategy fields: absent from ids at their defaults."""
    base = expand(load_experiment([]))
    resolved = base[0].resolved()["workload"]
    assert not {"turns", "think_time_s", "trace_path", "time_scale", "trace_block_size"} & set(resolved)
    touched = expand(load_experiment(["workload.dataset.turns=7", "workload.trace.time_scale=3"]))
    assert [t.trial_id for t in touched] == [t.trial_id for t in base]


SHARED = "workload.dataset.kind=shared_prefix"
CONV = "workload.dataset.kind=conversation"


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        (["workload=poisson", "workload.rate=[0]"], "workload.rate", "> 0"),
        (["workload=constant", "workload.rate=[-1]"], "workload.rate", "> 0"),
        (["workload=poisson", "workload.rate=[]"], "workload.rate", "at least one"),
        (["workload=gamma", "workload.burstiness=0"], "workload.burstiness", "> 0"),
        (["workload=rate_sweep", "workload.sweep.kind=log"], "workload.sweep.kind", "geometric"),
        (["workload=rate_sweep", "workload.sweep.min_rate=0"], "workload.sweep.min_rate", "> 0"),
        (["workload=sla_search", "workload.slo.ttft_ms=null"], "workload.slo", "at least one"),
        (["workload=sla_search", "workload.slo.p99_ttft_ms=5"], "workload.slo.p99_ttft_ms", "ttft_ms"),
        (["workload=sla_search", "workload.sla.max_rate=0.1"], "workload.sla.max_rate", "min_rate"),
        (["workload=static_batch", "workload.batch_sizes=[0]"], "workload.batch_sizes", "> 0"),
        (["workload=static_batch", "workload.runs=0"], "workload.runs", "> 0"),
        (["workload=static_batch", "workload.ignore_eos=false"], "workload.ignore_eos", "static_batch"),
        (["workload=static_batch", "workload.input_len=[600]"], "workload.input_len", "max_model_len"),
        (["workload.duration_s=0"], "workload.duration_s", "> 0"),
        (["workload.max_errors=0"], "workload.max_errors", "> 0"),
        (["workload.abort_error_rate=1.5"], "workload.abort_error_rate", "[0, 1]"),
        (["workload.dataset.kind=csv"], "workload.dataset.kind", "sharegpt"),
        (["workload.dataset.kind=sharegpt"], "workload.dataset.path", "local ShareGPT"),
        ([SHARED, "workload.dataset.prefix_len=64"], "workload.dataset.prefix_len", "below"),
        ([SHARED, "workload.dataset.prefix_len=8", "workload.dataset.num_prefixes=0"],
         "workload.dataset.num_prefixes", "> 0"),
        ([CONV, "workload=rate_sweep"], "workload.name", "conversation"),
        ([CONV, "workload=static_batch"], "workload.name", "concurrency"),
        ([CONV, "workload.dataset.turns=0"], "workload.dataset.turns", "> 0"),
        ([CONV, "workload.dataset.think_time_s=-1"], "workload.dataset.think_time_s", ">= 0"),
        ([CONV, "workload.dataset.turns=6"], "workload.dataset.turns", "576 tokens, above"),
        (["workload=trace", "workload.trace.path=null"], "workload.trace.path", "local trace file"),
        (["workload=trace", "workload.trace.format=parquet"], "workload.trace.format", "mooncake"),
        (["workload=trace", "workload.trace.time_scale=0"], "workload.trace.time_scale", "> 0"),
        (["workload=trace", "workload.trace.block_size=0"], "workload.trace.block_size", "> 0"),
        (["workload=trace", SHARED, "workload.dataset.prefix_len=8"], "workload.dataset.kind", "leave"),
        (["workload=trace", "workload.trace.path=/no/t.jsonl"], "workload.trace.path", "no such file"),
        (["workload=trace", "workload.trace.max_input_len=0"], "workload.trace.max_input_len", "> 0"),
        (["workload=trace", "model.max_model_len=256"], "workload.trace.path", "line 1: input 228 + output"),
    ],
)  # fmt: skip
def test_bad_strategy_values_name_the_field(overrides: list[str], field: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        check(overrides)
    assert err.value.field == field
    assert needle in str(err.value)
