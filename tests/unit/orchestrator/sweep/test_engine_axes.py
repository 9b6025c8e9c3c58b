"""engine.sweep: engine-option axes expanded into trials (ids, groups, names), and their validation."""

from __future__ import annotations

import pytest

from engines.flexgen.config import FlexGenConfig
from orchestrator.config.schema import EngineConfig, ExperimentConfig
from orchestrator.core.errors import ConfigError
from orchestrator.sweep.engine_axes import engine_variants, set_option
from orchestrator.sweep.grid import expand, group_by_engine


def flexgen_cfg(batches: list[int]) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.engine = EngineConfig(name="flexgen", tp=[1], sweep={"flexgen.num_gpu_batches": batches})
    cfg.workload.concurrency, cfg.workload.input_len = [1], [128, 256]
    return cfg


def test_seed_000_grid() -> None:
    trials = expand(flexgen_cfg([4, 8, 16, 32]))
    assert len(trials) == 8 and len(group_by_engine(trials)) == 4
    assert [t.engine.flexgen.num_gpu_batches for t in trials] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert all(t.engine.sweep == {} for t in trials)
    assert trials[0].name == "flexgen-tp1-num_gpu_batches4-c1-in128-out32"
    assert trials[0].resolved()["engine"]["flexgen"]["num_gpu_batches"] == 4
    assert len({t.trial_id for t in trials}) == 8


def test_ids_do_not_depend_on_the_other_sweep_values() -> None:
    """Adding a value to the sweep keeps the ids of existing trials (resume stays valid)."""
    small = {t.name: t.trial_id for t in expand(flexgen_cfg([4, 8]))}
    large = {t.name: t.trial_id for t in expand(flexgen_cfg([4, 8, 16]))}
    assert all(large[name] == tid for name, tid in small.items())


def test_other_engines_sections_do_not_change_ids() -> None:
    a, b = ExperimentConfig(), ExperimentConfig()
    b.engine.flexgen = FlexGenConfig(num_gpu_batches=99)
    assert [t.trial_id for t in expand(a)] == [t.trial_id for t in expand(b)]


def test_two_axes_product_and_set_option() -> None:
    engine = EngineConfig(sweep={"max_num_seqs": [8, 16], "tgi.max_batch_total_tokens": [16000, 32000]})
    variants = engine_variants(engine)
    assert [(v.max_num_seqs, v.tgi.max_batch_total_tokens) for v, _ in variants] == [
        (8, 16000), (8, 32000), (16, 16000), (16, 32000)
    ]  # fmt: skip
    assert variants[1][1] == (("max_num_seqs", 8), ("tgi.max_batch_total_tokens", 32000))
    assert engine.max_num_seqs is None  # the input is not modified
    percent = set_option(engine, "f", "flexgen.percent", [0, 100, 0, 100, 0, 100]).flexgen.percent
    assert percent[1] == 100


def test_a_value_of_the_wrong_type_names_the_axis() -> None:
    with pytest.raises(ConfigError) as err:
        engine_variants(EngineConfig(sweep={"max_num_seqs": [8, "many"]}))
    assert err.value.field == "engine.sweep.max_num_seqs"
    assert (
        engine_variants(EngineConfig(sweep={"max_num_seqs": ["16"]}))[0][0].max_num_seqs == 16
    )  # as Hydra would


@pytest.mark.parametrize(
    ("sweep", "field"),
    [
        ({"bogus": [1]}, "engine.sweep.bogus"),
        ({"tp": [1, 2]}, "engine.sweep.tp"),
        ({"flexgen.nope": [1]}, "engine.sweep.flexgen.nope"),
        ({"tgi": [1]}, "engine.sweep.tgi"),
        ({"max_num_seqs": []}, "engine.sweep.max_num_seqs"),
    ],
)
def test_bad_sweeps_name_the_field(sweep: dict[str, list[object]], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        engine_variants(EngineConfig(sweep=sweep))
    assert err.value.field == field
