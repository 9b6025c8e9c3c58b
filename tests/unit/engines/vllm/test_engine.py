"""vLLM command line from typed config (GPU and CPU), pipeline parallel split, validation."""

from __future__ import annotations

import dataclasses

import pytest

from engines.base import LaunchSpec
from engines.vllm.engine import VLLMEngine
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError

GPU = LaunchSpec("/m/awq", "mistral", 4, "127.0.0.1", 8000, "gpu", ("0", "1", "2", "3"))
CPU = LaunchSpec("/m/tiny", "tiny", 1, "127.0.0.1", 8001, "cpu")
MODEL = ModelConfig(
    name="mistral", path="/m/awq", max_model_len=4096, revision="main", trust_remote_code=True
)


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_gpu_command_with_every_typed_option() -> None:
    cfg = EngineConfig(
        dtype="float16", quantization="awq", max_num_seqs=64, max_num_batched_tokens=8192,
        gpu_memory_utilization=0.85, enable_prefix_caching=False, seed=7, pipeline_parallel_size=2,
        tokenizer="/m/tok", download_dir="/cache", kv_cache_dtype="fp8",
        extra_args=["--disable-log-requests"],
    )  # fmt: skip
    argv = VLLMEngine().command(cfg, MODEL, GPU)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert flag(argv, "--tensor-parallel-size") == "2" and flag(argv, "--pipeline-parallel-size") == "2"
    for name, value in (
        ("--model", "/m/awq"), ("--served-model-name", "mistral"), ("--host", "127.0.0.1"),
        ("--port", "8000"),
        ("--dtype", "float16"), ("--max-model-len", "4096"), ("--seed", "7"), ("--quantization", "awq"),
        ("--max-num-seqs", "64"), ("--max-num-batched-tokens", "8192"), ("--gpu-memory-utilization", "0.85"),
        ("--tokenizer", "/m/tok"), ("--download-dir", "/cache"), ("--kv-cache-dtype", "fp8"),
        ("--revision", "main"),
    ):  # fmt: skip
        assert flag(argv, name) == value
    assert "--no-enable-prefix-caching" in argv and "--trust-remote-code" in argv
    assert "--enforce-eager" not in argv  # engine default on GPU
    assert argv[-1] == "--disable-log-requests"
    assert VLLMEngine().env(cfg, GPU)["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"


def test_cpu_defaults_and_explicit_kv_cache_size() -> None:
    cfg = EngineConfig(pipeline_parallel_size=2)
    argv = VLLMEngine().command(cfg, ModelConfig(), CPU)
    assert flag(argv, "--tensor-parallel-size") == "1" and "--pipeline-parallel-size" not in argv
    assert "--enforce-eager" in argv
    assert VLLMEngine().env(cfg, CPU)["VLLM_CPU_KVCACHE_SPACE"] == "1"
    explicit = dataclasses.replace(cfg, extra_args=["--kv-cache-memory-bytes", "4096"])
    assert "VLLM_CPU_KVCACHE_SPACE" not in VLLMEngine().env(explicit, CPU)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pipeline_parallel_size": 3, "tp": [2, 4]}, "engine.pipeline_parallel_size"),
        ({"pipeline_parallel_size": 0}, "engine.pipeline_parallel_size"),
        ({"max_num_batched_tokens": 0}, "engine.max_num_batched_tokens"),
        ({"max_num_seqs": 0}, "engine.max_num_seqs"),
        ({"gpu_memory_utilization": 1.5}, "engine.gpu_memory_utilization"),
    ],
)
def test_validate_names_the_field(changes: dict[str, object], field: str) -> None:
    cfg = dataclasses.replace(EngineConfig(), **changes)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        VLLMEngine().validate(cfg, ModelConfig())
    assert err.value.field == field
