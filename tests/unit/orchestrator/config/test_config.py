"""Config composition and validation: every bad input is a ConfigError naming the field."""

from __future__ import annotations

import pytest

from engines.registry import registry
from orchestrator.cli.app import main
from orchestrator.config.store import group_options, load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.sweep.checks import validate
from orchestrator.sweep.placement import planned_nodes


def check(overrides: list[str]) -> None:
    cfg = load_experiment(overrides)
    validate(cfg, registry().keys(), planned_nodes(cfg.resources))


def test_default_is_smoke() -> None:
    cfg = load_experiment([])
    assert cfg.name == "smoke"
    assert cfg.engine.name == "vllm" and cfg.engine.tp == [1, 2]
    assert cfg.model.path == "tiny"
    assert cfg.workload.concurrency == [1, 4]
    assert cfg.resources.device == "cpu" and cfg.resources.gpus_per_node == 8
    check([])


def test_preset_and_overrides_compose() -> None:
    cfg = load_experiment(["+exp=smoke", "engine.tp=[1,2,4]", "workload.num_requests=8"])
    assert cfg.engine.tp == [1, 2, 4]
    assert cfg.workload.num_requests == 8
    assert "smoke" in group_options("exp")


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        (["engine=nope"], "engine", "vllm"),
        (["+exp=nope"], "exp (preset)", "smoke"),
        (["engine.name=nope"], "engine.name", "vllm"),
        (["workload.name=nope"], "workload.name", "concurrency"),
        (["workload.api=nope"], "workload.api", "completions"),
        (["engine.tp=[3]"], "engine.tp", "1, 2, 4, 8, 16"),
        (["engine.tp=[16]"], "engine.tp", "whole nodes"),
        (["engine.tp=[]"], "engine.tp", "at least one"),
        (["workload.input_len=[500]"], "workload.input_len", "max_model_len"),
        (["workload.concurrency=[0]"], "workload.concurrency", "> 0"),
        (["workload.num_requests=-1"], "workload.num_requests", "> 0"),
        (["workload.output_len=[0]"], "workload.output_len", "> 0"),
        (["workload.warmup_requests=-2"], "workload.warmup_requests", ">= 0"),
        (["workload.max_error_rate=2"], "workload.max_error_rate", "[0, 1]"),
        (["workload.max_send_delay_ms=0"], "workload.max_send_delay_ms", "> 0"),
        (["ray.warm_workers=-1"], "ray.warm_workers", ">= 0"),
        (["ray.max_retries=-1"], "ray.max_retries", ">= 0"),
        (["workload.slo.ttft=5"], "workload.slo.ttft", "ttft_ms"),
        (["workload.slo.ttft_ms=-1"], "workload.slo.ttft_ms", "> 0"),
        (["resources.device=tpu"], "resources.device", "gpu"),
        (["engine.foo=1"], "engine.foo", "tp"),
        (["+engine.foo=1"], "engine.foo", "tp"),
        (["engine.tp=[a]"], "engine.tp[0]", "int"),
        (["workload.num_requests=x"], "workload.num_requests", "int"),
        (["tracking.port=70000"], "tracking.port", "65535"),
    ],
)
def test_bad_input_names_the_field(overrides: list[str], field: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        check(overrides)
    assert err.value.field == field
    assert needle in str(err.value)


def test_tp16_fits_two_nodes() -> None:
    # two 8-GPU nodes: on GPU a placement question (on CPU vLLM's 16 ranks need 16 cores: below)
    check(["engine.tp=[16]", "resources.num_nodes=2", "resources=gpu", "resources.gpus_per_node=8"])
    check(["engine=command", "engine.command=x", "engine.tp=[16]", "resources.num_nodes=2"])


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [(["engine.tp=[1,4]"], "engine.tp", "TP 4 runs 4 vllm rank(s) of engine.cpus=1 core(s) each: 4 physical "
      "cores, but this machine has 2 usable (0,1); lower engine.tp"),
     (["engine.tp=[2]", "engine.cpus=2"], "engine.cpus", "4 physical cores, but this machine has 2"),
     (["engine.tp=[2]", "resources.cpus_per_node=1"], "engine.tp", "2 CPUs, but nodes have at most 1"),
     (["engine.tp=[1]", "resources=gpu", "resources.gpus_per_node=1", "engine.cpus=32"], "engine.cpus",
      "32 CPUs per instance, but nodes have at most 16"),
     (["engine.distributed_executor_backend=ray"], "engine.distributed_executor_backend", "use mp")],
)  # fmt: skip
def test_ranks_without_cores_of_their_own_are_config_errors(
    overrides: list[str], field: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CPU each vLLM rank needs engine.cpus physical cores of its own, from this machine (a local
    cluster) and within a node's CPUs: more is refused before anything starts, never oversubscribed."""
    import orchestrator.sweep.checks as checks
    from engines.cpu_cores import Core

    monkeypatch.setattr(checks, "usable_cores", lambda: [Core((0,)), Core((1,))])
    with pytest.raises(ConfigError) as err:
        check(overrides)
    assert err.value.field == field
    assert needle in str(err.value)
    check(["engine.tp=[1,2]"])  # the smoke preset on a 2-core machine: TP 2 takes both cores


def test_cli_exits_2_on_bad_config_and_starts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    assert main(["engine.tp=[3]"]) == 2
    err = capsys.readouterr().err
    assert "engine.tp" in err and "allowed" in err
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


def test_cli_dry_run_prints_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "engine.tp=[2,4]", "resources=gpu", "resources.gpus_per_node=8"]) == 0
    out = capsys.readouterr().out
    assert "STRICT_PACK" in out and "dry run" in out
    assert "{GPU: 4, CPU: 1}" in out and "CUDA_VISIBLE_DEVICES=<gpu0>,<gpu1>,<gpu2>,<gpu3> " in out
    assert "--distributed-executor-backend" not in out  # on GPU vLLM picks its executor, as before


def test_cli_dry_run_on_cpu_shows_the_ranks_cores(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run"]) == 0  # smoke: TP 1 and a real TP 2, one core per rank
    out = capsys.readouterr().out
    assert "{GPU: 1, CPU: 1}" in out and "{GPU: 2, CPU: 2}" in out  # the bundle holds the ranks' cores
    assert "VLLM_CPU_OMP_THREADS_BIND=<cores-rank0> " in out
    assert "'VLLM_CPU_OMP_THREADS_BIND=<cores-rank0>|<cores-rank1>'" in out
    assert "--tensor-parallel-size 2 " in out and "--distributed-executor-backend mp" in out


def test_hydra_leaves_no_outputs_dir(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert main(["--dry-run"]) == 0
    assert list(tmp_path.iterdir()) == []


def test_missing_local_model_path_is_a_config_error() -> None:
    from orchestrator.sweep.checks import check_local_path, looks_local

    with pytest.raises(ConfigError, match=r"model.path: local path '/nonexistent' does not exist"):
        check_local_path("model.path", "/nonexistent")
    assert looks_local("./m") and looks_local("a/b/c") and not looks_local("org/name")
    check_local_path("model.path", "org/name")  # a hub id: not checked here
    check_local_path("model.path", "tiny")
