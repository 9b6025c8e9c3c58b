"""Every seed preset validates and dry-runs with the seed's grid; several engines in one sweep."""

from __future__ import annotations

import pytest

from orchestrator.cli.app import main
from orchestrator.config.store import load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.sweep.multi_engine import engine_configs, engine_overrides
from orchestrator.sweep.placement import NodeSpec
from tests.seed_results import trials_of

# preset → trials the seed's grid has
GRIDS = {
    "tgi_tp_sweep": 3 * 6,  # TP {2,4,8} x batch sizes {1,2,4,8,16,32}
    "vllm_vs_tgi_awq": 2 * 4 * 4,  # {vllm, tgi} x input {128,512,1024,2048} x output {same}
    "vllm_gptq": 4 * 4,
    "flexgen_diagonal": 2 * 4 * 4,  # {origin, diagonal} x num-gpu-batches {4..32} x prompt {128..1024}
    "vllm_gptq_cpu": 2 * 2,
    "vllm_vs_tgi_awq_cpu": 2 * 2,
    "smoke": 4,
}


@pytest.mark.parametrize("preset", sorted(GRIDS))
def test_dry_run_prints_every_trial(preset: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"+exp={preset}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    trials = trials_of(preset)
    assert len(trials) == GRIDS[preset] == len({t.trial_id for t in trials})
    assert f"{preset}: {GRIDS[preset]} trial(s) (dry run: nothing started)" in out
    assert all(t.trial_id in out for t in trials)
    assert "STRICT_PACK" in out


def test_seed_parameters() -> None:
    tgi = trials_of("tgi_tp_sweep")
    assert sorted({t.tp for t in tgi}) == [2, 4, 8]
    assert sorted({t.point.batch_size for t in tgi}) == [1, 2, 4, 8, 16, 32]
    p = tgi[0].point
    assert (p.input_len, p.output_len, p.runs, p.warmups) == (100, 100, 10, 1)
    t = tgi[0].engine.tgi
    assert (t.max_concurrent_requests, t.max_best_of, t.max_stop_sequences, t.max_input_length,
            t.max_total_tokens, t.waiting_served_ratio, t.max_batch_total_tokens, t.max_waiting_tokens,
            t.master_port) == (128, 2, 4, 1000, 1512, 1.2, 32000, 20, None)  # fmt: skip
    # the seed's shard_uds_path / master_addr / master_port are TGI's defaults: null, per instance
    assert (t.shard_uds_path, t.master_addr) == (None, None)
    awq = trials_of("vllm_vs_tgi_awq")
    assert {(x.engine.name, x.engine.quantization or x.engine.tgi.quantize) for x in awq} == {
        ("vllm", "awq"),
        ("tgi", "awq"),
    }
    assert {x.point.name for x in awq} == {"max_throughput"} and {x.tp for x in awq} == {1}
    flex = trials_of("flexgen_diagonal")
    assert {(x.engine.flexgen.gpu_batch_size, x.point.output_len) for x in flex} == {(8, 32)}
    assert sorted({x.engine.flexgen.num_gpu_batches for x in flex}) == [4, 8, 16, 32]
    assert sorted({x.point.input_len for x in flex}) == [128, 256, 512, 1024]


def test_engines_compose_one_config_each() -> None:
    cfg = load_experiment(["+exp=vllm_vs_tgi_awq"])
    overrides = engine_overrides(cfg, ["+exp=vllm_vs_tgi_awq", "engine.tp=[1]"])
    assert overrides["tgi"][:2] == ["engine=tgi", "engine.tgi.quantize=awq"]
    configs = engine_configs(cfg, ["+exp=vllm_vs_tgi_awq"], ["vllm", "tgi", "flexgen", "command"],
                             [NodeSpec(1, 16)])  # fmt: skip
    assert [c.engine.name for c in configs] == ["vllm", "tgi"] and all(not c.engines for c in configs)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (["engines=[vllm,nope]"], "engines"),
        (["+engine_overrides.flexgen=['engine.cpus=2']"], "engine_overrides.flexgen"),
        (["engine=vllm"], "engine"),
        (["engine.tgi.max_input_length=5000"], "engine.tgi.max_input_length"),
    ],
)
def test_bad_engines_config_names_the_field(overrides: list[str], field: str) -> None:
    args = ["+exp=vllm_vs_tgi_awq", *overrides]
    cfg = load_experiment(args)
    with pytest.raises(ConfigError) as info:
        engine_configs(cfg, args, ["vllm", "tgi", "flexgen", "command"], [NodeSpec(1, 16)])
    assert info.value.field == field
    if field.startswith("engine.tgi"):
        assert "engines: tgi" in str(info.value)


def test_bad_engine_config_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["+exp=vllm_vs_tgi_awq", "engine.tgi.max_input_length=5000", "--dry-run"]) == 2
    assert "engine.tgi.max_input_length" in capsys.readouterr().err
