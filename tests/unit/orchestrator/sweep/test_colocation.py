"""Per-instance side channels (TGI master port / shard sockets / Prometheus port, vLLM VLLM_PORT /
VLLM_RPC_BASE_PATH), the co-location check for fixed values, TGI's version-gated flags, and the
launch commands of ``--dry-run``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from engines.base import LaunchSpec
from engines.side_channels import SideChannels, allocate, release
from engines.tgi.config import TGIConfig
from engines.tgi.engine import TGIEngine, validate
from engines.tgi.launcher import parse_version, prefix_caching_env
from engines.vllm.engine import VLLMEngine
from orchestrator.cli.app import main
from orchestrator.config.schema import EngineConfig, ExperimentConfig, ModelConfig
from orchestrator.config.store import load_experiment
from orchestrator.core.errors import ConfigError
from orchestrator.sweep.colocation import could_colocate
from orchestrator.sweep.multi_engine import engine_configs
from orchestrator.sweep.placement import NodeSpec

MODEL = ModelConfig(name="m", path="org/m")
ENGINES = ["vllm", "tgi", "flexgen", "command"]
PRESETS = sorted(p.stem for p in (Path(__file__).parents[4] / "conf" / "exp").glob("*.yaml"))


def spec(side: SideChannels, port: int = 5555) -> LaunchSpec:
    return LaunchSpec("org/m", "m", 2, "127.0.0.1", port, "gpu", ("0", "1"), side)


def tgi(**changes: Any) -> EngineConfig:
    return EngineConfig(name="tgi", tgi=dataclasses.replace(TGIConfig(), **changes))


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.fixture
def two_instances() -> Any:
    a, b = allocate("127.0.0.1", "tgi", 5555), allocate("127.0.0.1", "tgi", 5556)
    yield a, b
    release(a)
    release(b)


def test_two_instances_get_their_own_side_channels(two_instances: tuple[SideChannels, SideChannels]) -> None:
    a, b = two_instances
    assert len(set(a.ports) | set(b.ports) | {5555, 5556}) == 6
    assert a.scratch and b.scratch and a.scratch != b.scratch and Path(a.scratch).is_dir()
    argv_a = TGIEngine().command(tgi(), MODEL, spec(a, 5555))
    argv_b = TGIEngine().command(tgi(), MODEL, spec(b, 5556))
    assert flag(argv_a, "--master-port") == str(a.ports[0]) != flag(argv_b, "--master-port")
    assert flag(argv_a, "--prometheus-port") == str(a.ports[1]) != flag(argv_b, "--prometheus-port")
    uds_a, uds_b = flag(argv_a, "--shard-uds-path"), flag(argv_b, "--shard-uds-path")
    assert uds_a == f"{a.scratch}/shard" and uds_a != uds_b
    assert len(f"{uds_a}-15".encode()) < 108  # AF_UNIX limit, with TGI's -{rank}
    env_a, env_b = (VLLMEngine().env(EngineConfig(), spec(s)) for s in (a, b))
    assert env_a["VLLM_PORT"] == str(a.ports[0]) != env_b["VLLM_PORT"]
    assert env_a["VLLM_RPC_BASE_PATH"] == a.scratch != env_b["VLLM_RPC_BASE_PATH"]
    release(a)
    assert not Path(a.scratch).exists()


def test_user_values_win(two_instances: tuple[SideChannels, SideChannels]) -> None:
    a, _ = two_instances
    c = tgi(master_port=29500, shard_uds_path="/tmp/tgi", prometheus_port=9100)
    argv = TGIEngine().command(c, MODEL, spec(a))
    assert (flag(argv, "--master-port"), flag(argv, "--shard-uds-path"), flag(argv, "--prometheus-port")) == (
        "29500", "/tmp/tgi", "9100",
    )  # fmt: skip
    env = VLLMEngine().env(EngineConfig(env={"VLLM_PORT": "40000", "VLLM_RPC_BASE_PATH": "/x"}), spec(a))
    assert (env["VLLM_PORT"], env["VLLM_RPC_BASE_PATH"]) == ("40000", "/x")


def test_hand_built_spec_and_container_add_nothing(two_instances: tuple[SideChannels, SideChannels]) -> None:
    bare = TGIEngine().command(tgi(), MODEL, spec(SideChannels()))
    assert not {"--master-port", "--shard-uds-path", "--prometheus-port"} & set(bare)
    assert "VLLM_PORT" not in VLLMEngine().env(EngineConfig(), spec(SideChannels()))
    a, _ = two_instances  # a container has its own network namespace and /tmp
    docker = TGIEngine().command(tgi(launcher="docker", prefix_caching=False), MODEL, spec(a))
    assert not {"--master-port", "--shard-uds-path", "--prometheus-port"} & set(docker)
    assert "PREFIX_CACHING=0" in docker[: docker.index(TGIConfig().image)]


@pytest.mark.parametrize(
    ("version", "input_flag", "prometheus"),
    [("3.3.7", "--max-input-tokens", True), ("3.2.0", "--max-input-tokens", False),
     ("v2.0.0", "--max-input-tokens", False), ("1.3.4", "--max-input-length", False),
     ("0.8.x", "--max-input-length", False)],
)  # fmt: skip
def test_version_gated_flags(version: str, input_flag: str, prometheus: bool) -> None:
    side = SideChannels((40001, 40002), "/tmp/s")
    argv = TGIEngine().command(tgi(version=version, max_input_length=1000), MODEL, spec(side))
    assert flag(argv, input_flag) == "1000"
    assert ("--prometheus-port" in argv) is prometheus
    assert flag(argv, "--master-port") == "40001"


@pytest.mark.parametrize(
    ("version", "expected"),
    [("3.3.7", {"PREFIX_CACHING": "0"}), ("3.0.0", {"PREFIX_CACHING": "0"}),
     ("2.3.1", {"USE_PREFIX_CACHING": "0"}), ("2.2.0", {}), ("1.3.4", {})],
)  # fmt: skip
def test_prefix_caching_env_per_version(version: str, expected: dict[str, str]) -> None:
    c = tgi(version=version, prefix_caching=False)
    assert prefix_caching_env(c.tgi) == expected
    env = TGIEngine().env(c, spec(SideChannels()))
    assert {k: env[k] for k in ("PREFIX_CACHING", "USE_PREFIX_CACHING") if k in env} == expected
    assert prefix_caching_env(tgi(version=version).tgi) == {}  # None: TGI's default


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"version": "latest"}, "engine.tgi.version"),
     ({"version": "3.2.0", "prometheus_port": 9100}, "engine.tgi.prometheus_port"),
     ({"prometheus_port": 70000}, "engine.tgi.prometheus_port"),
     ({"version": "2.2.0", "prefix_caching": True}, "engine.tgi.prefix_caching")],
)  # fmt: skip
def test_version_gated_options_are_config_errors(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(tgi(**changes), MODEL)
    assert err.value.field == field


def test_parse_version() -> None:
    assert parse_version("3.3.7") == (3, 3, 7)
    assert parse_version("v1.3.4") == (1, 3, 4) and parse_version("2.3") == (2, 3, 0)
    assert parse_version("0.8.x") == (0, 8, 0) and parse_version("nightly") is None


def _cfg(
    tp: list[int], concurrent: int | None = 2, gpus: int | None = 8, cpus: int | None = 16, **ray: Any
) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.engine.tp = tp
    cfg.resources.gpus_per_node = gpus
    cfg.resources.cpus_per_node = cpus  # 16: the GPU cases below (None: this machine's cores)
    cfg.ray.max_concurrent_engines = concurrent
    for key, value in ray.items():
        setattr(cfg.ray, key, value)
    return cfg


def test_could_colocate() -> None:
    assert could_colocate(_cfg([2, 4]))  # 2 + 4 GPUs fit one 8-GPU node
    assert not could_colocate(_cfg([2, 4], concurrent=1))
    assert not could_colocate(_cfg([4, 8]))  # 4 + 8 > 8
    assert not could_colocate(_cfg([2]))  # one instance
    assert not could_colocate(_cfg([1, 2], gpus=2))
    assert could_colocate(_cfg([1, 2], gpus=2), [NodeSpec(4, 16)])  # the planned nodes decide
    assert not could_colocate(_cfg([1, 2]), [NodeSpec(8, 1)])  # engine.cpus=1 each, 1 CPU
    assert could_colocate(_cfg([4, 8], address="auto"))  # unknown cluster: any two may meet
    same_tp = _cfg([1], gpus=2)
    same_tp.engine.reuse = False  # one instance per trial (two workload points)
    assert could_colocate(same_tp)
    same_tp.engine.reuse = True
    assert not could_colocate(same_tp)


def test_could_colocate_counts_the_cores_of_cpu_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU a vLLM instance's bundle holds tp × engine.cpus cores: on a 2-core machine TP 1 and
    TP 2 never run at once (1 + 2 > 2), two TP 1 instances may; unset max_concurrent_engines means
    as many as fit, so the cores decide."""
    import orchestrator.sweep.placement as placement

    monkeypatch.setattr(placement, "core_count", lambda: 2)
    assert not could_colocate(_cfg([1, 2], concurrent=None, cpus=None))
    two_tp1 = _cfg([1], concurrent=None, cpus=None)
    two_tp1.engine.reuse = False  # one instance per trial: two workload points, one core each
    assert could_colocate(two_tp1)
    two_tp1.ray.max_concurrent_engines = 1
    assert not could_colocate(two_tp1)
    monkeypatch.setattr(placement, "core_count", lambda: 4)
    assert could_colocate(_cfg([1, 2], concurrent=None, cpus=None))  # 1 + 2 cores of 4
    tgi_cpu = _cfg([2, 4], concurrent=None, cpus=None)
    tgi_cpu.engine.name = "tgi"  # the stand-in's shards bind no cores: one CPU per instance
    assert could_colocate(tgi_cpu)


def _configs(args: list[str]) -> list[ExperimentConfig]:
    cfg = load_experiment(args)
    return engine_configs(cfg, args, ENGINES, [NodeSpec(8, 16)])


@pytest.mark.parametrize(
    ("args", "field"),
    [(["+exp=tgi_tp_sweep", "engine.tgi.master_port=29500"], "engine.tgi.master_port"),
     (["+exp=tgi_tp_sweep", "engine.tgi.shard_uds_path=/tmp/t"], "engine.tgi.shard_uds_path"),
     (["+exp=tgi_tp_sweep", "engine.tgi.prometheus_port=9100"], "engine.tgi.prometheus_port"),
     (["+exp=smoke", "+engine.env.VLLM_PORT=40000"], "engine.env.VLLM_PORT"),
     (["+exp=smoke", "+engine.env.VLLM_RPC_BASE_PATH=/tmp/v"], "engine.env.VLLM_RPC_BASE_PATH")],
)  # fmt: skip
def test_fixed_value_with_colocation_names_the_field(args: list[str], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        _configs([*args, "ray.max_concurrent_engines=2"])
    assert err.value.field == field
    assert "leave it null" in str(err.value) and "ray.max_concurrent_engines=1" in str(err.value)
    _configs([*args, "ray.max_concurrent_engines=1"])  # honoured: never two on a node
    _configs([*args, "ray.max_concurrent_engines=2", "engine.tp=[1]"])  # one instance only


def test_fixed_value_in_a_container_is_fine() -> None:
    _configs(["+exp=tgi_tp_sweep", "engine.tgi.master_port=29500", "engine.tgi.launcher=docker",
              "ray.max_concurrent_engines=2"])  # fmt: skip


@pytest.mark.parametrize("preset", PRESETS)
def test_dry_run_prints_launch_commands(preset: str, capsys: pytest.CaptureFixture[str]) -> None:
    if load_experiment([f"+exp={preset}"]).kind == "planner":
        pytest.skip("a planner preset starts no engine")
    assert main([f"+exp={preset}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "launch commands" in out
    if preset == "tgi_tp_sweep":
        assert out.count("text-generation-launcher") == 3  # TP 2, 4, 8
        assert "--master-port <master-port>" in out and "--shard-uds-path <scratch>/shard" in out
        assert "--port <port>" in out and "CUDA_VISIBLE_DEVICES=<gpu0>,<gpu1> " in out
    if preset == "vllm_vs_tgi_awq":
        assert "--no-enable-prefix-caching" in out and "PREFIX_CACHING=0" in out
        assert "VLLM_PORT=<vllm-port>" in out


def test_dry_run_redacts_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    token = "hf_abcdefghijklmnopqrstuvwxyz0123"
    assert main(["+exp=smoke", f"+engine.env.HF_TOKEN={token}", "engine.extra_args=[--api-key,s3cr3t-value]",
                 "--dry-run"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert token not in out and "s3cr3t-value" not in out and "[REDACTED]" in out


def test_runner_starts_each_instance_with_its_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import orchestrator.execution.engine_run as engine_run
    import orchestrator.execution.runner as runner

    class FakeProcess:
        pid = 1

        def __init__(
            self, argv: list[str], log_path: Path, env: dict[str, str], stop_argv: Any, **confined: Any
        ) -> None:
            self.argv, self.env, self.stop_argv, self.log_path = argv, env, stop_argv, log_path

        def start(self) -> None: ...

        def processes(self) -> list[Any]:
            return []

        def segments(self) -> list[str]:
            return []

        def alive(self) -> bool:
            return True

        def wait_ready(self, ready: Any, timeout_s: float) -> None: ...

        def stop(self) -> None: ...

    monkeypatch.setattr(runner, "ManagedProcess", FakeProcess)
    monkeypatch.setattr(runner, "node_info", dict)
    monkeypatch.setattr(engine_run, "RANK_SCAN_WAIT_S", 0.0)  # no shard processes here: rescans at once
    monkeypatch.setattr(TGIEngine, "version", lambda self, spec: "3.3.7")
    a = runner.EngineRunner(tgi(), MODEL, 2, "gpu", tmp_path / "a")
    b = runner.EngineRunner(tgi(), MODEL, 4, "gpu", tmp_path / "b")
    info_a, info_b = a.start(["0", "1"]), b.start(["2", "3", "4", "5"])
    assert flag(info_a["command"], "--master-port") != flag(info_b["command"], "--master-port")
    assert flag(info_a["command"], "--shard-uds-path") != flag(info_b["command"], "--shard-uds-path")
    assert a.spec is not None and a.spec.side.scratch and Path(a.spec.side.scratch).is_dir()
    a.stop()
    b.stop()
    assert not Path(a.spec.side.scratch).exists()
