"""The search space: candidates from ``search.space`` × ``search.candidates``, their ids and the
config errors that name the search key at fault (before anything starts)."""

from __future__ import annotations

import pytest

from orchestrator.cli.app import main
from orchestrator.config.store import load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.search.space import check, expand
from orchestrator.sweep.placement import NodeSpec

NODES = [NodeSpec(8, 16)]


def search(*overrides: str) -> list[str]:
    return ["search=slo", *overrides]


def test_space_product_then_explicit_candidates_in_config_order() -> None:
    cfg = load_experiment(
        search(
            "engine.tp=[1]",
            "++search.space={engine.tp:[1,2],engine.max_num_seqs:[64,128]}",
            "search.candidates=[{engine.max_num_seqs:8,engine.extra_args:['--x=1']}]",
        )
    )
    cands = expand(cfg)
    assert [c.label for c in cands] == [
        "vllm tp=1 max_num_seqs=64", "vllm tp=1 max_num_seqs=128", "vllm tp=2 max_num_seqs=64",
        "vllm tp=2 max_num_seqs=128", "vllm tp=1 max_num_seqs=8 extra_args=--x=1",
    ]  # fmt: skip
    assert [c.index for c in cands] == [0, 1, 2, 3, 4]
    assert cands[0].engine.tp == [1] and cands[2].engine.tp == [2] and cands[2].engine.max_num_seqs == 64
    assert (
        cands[4].engine.extra_args == ["--x=1"] and cands[4].slug == "vllm-tp1-max_num_seqs8-extra_args--x=1"
    )
    assert len({c.cid for c in cands}) == 5


def test_engine_tp_is_the_tp_axis_without_a_space_key_and_ids_are_the_group_ids() -> None:
    cfg = load_experiment(search("engine.tp=[1,2]", "++search.space={engine.max_num_seqs:[8]}"))
    cands = expand(cfg)
    assert [(c.tp, c.engine.max_num_seqs) for c in cands] == [(1, 8), (2, 8)]
    again = expand(load_experiment(search("engine.tp=[1,2]", "++search.space={engine.max_num_seqs:[8]}",
                                          "search.rounds=3", "search.budget_gpu_hours=2")))  # fmt: skip
    assert [c.cid for c in again] == [c.cid for c in cands]  # the search's own settings change no id


def test_equal_candidates_are_one() -> None:
    cfg = load_experiment(search("engine.tp=[1]", "++search.space={engine.max_num_seqs:[8]}",
                                 "search.candidates=[{engine.max_num_seqs:8}]"))  # fmt: skip
    assert len(expand(cfg)) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        (
            ["++search.space={model.max_model_len:[64]}"],
            "search.space.model.max_model_len",
            "engine.max_num_seqs",
        ),
        (["++search.space={engine.nope:[1]}"], "search.space.engine.nope", "engine.tgi.*"),
        (["++search.space={engine.sweep:[1]}"], "search.space.engine.sweep", "not a searchable"),
        (["++search.space={engine.max_num_seqs:[abc]}"], "search.space.engine.max_num_seqs", "abc"),
        (["++search.space={engine.max_num_seqs:[0]}"], "search.space.engine.max_num_seqs", ">= 1"),
        (["++search.space={engine.tp:[3]}"], "search.space.engine.tp", "allowed: 1, 2, 4, 8, 16"),
        (["++search.space={engine.tp:[16]}"], "search.space.engine.tp", "cannot be placed"),
        (["++search.space={engine.max_num_seqs:[]}"], "search.space.engine.max_num_seqs", "at least one"),
        (["search.candidates=[{engine.max_num_seqs:0}]"], "search.candidates[0].engine.max_num_seqs", ">= 1"),
        (["search.slo.ttft_p99_ms=null", "search.slo.tpot_p99_ms=null"], "search.slo", "ttft_p99_ms"),
        (["search.slo.ttft_p99_ms=-1"], "search.slo.ttft_p99_ms", "> 0"),
        (["search.objective=fast"], "search.objective", "goodput_per_gpu_hour"),
        (["search.eta=1"], "search.eta", ">= 2"),
        (["search.rounds=0"], "search.rounds", ">= 1"),
        (["search.budget_gpu_hours=0"], "search.budget_gpu_hours", "> 0"),
        (["workload.output_len=[32,64]"], "workload.output_len", "one workload point"),
        (["repeats=2"], "repeats", "repeats=1"),
        (["++engine.sweep={max_num_seqs:[8]}"], "engine.sweep", "search.space"),
        (["workload.sla.min_rate=0"], "workload.sla.min_rate", ""),
    ],
)
def test_bad_search_config_names_the_field(overrides: list[str], field: str, text: str) -> None:
    cfg = load_experiment(search(*overrides))
    with pytest.raises(ConfigError) as info:
        check([cfg], NODES)
    assert info.value.field == field and text in str(info.value), str(info.value)


def test_a_mapping_without_plus_plus_says_how() -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(search("search.space={engine.tp:[1,2]}"))
    assert info.value.field == "search.space" and "++search.space=" in str(info.value)


def test_search_off_by_default_changes_nothing() -> None:
    cfg = load_experiment([])
    assert not cfg.search.enabled and cfg.search.space == {}


def test_dry_run_prints_candidates_rounds_and_exits_2_on_a_bad_space(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["+exp=smoke_search", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "smoke_search: search of 3 candidate(s) (dry run: nothing started)" in out
    assert "round 0: 12 requests per probe, up to 1 bisection step(s)" in out
    assert "--kv-cache-memory-bytes=65536" in out and "launch commands" in out
    assert main(["+exp=smoke_search", "++search.space={engine.nope:[1]}", "--dry-run"]) == 2
    assert "search.space.engine.nope" in capsys.readouterr().err
