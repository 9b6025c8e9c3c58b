"""What the launcher runs: the shards' and the router's argv and environment, from its ``Args``
(TGI v3.3.7 ``launcher/src/main.rs``: ``shard_manager``, ``spawn_webserver``, ``find_num_shards``)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from engines.standins.tgi.launcher_log import LauncherError, log


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def valued(a: dict[str, Any], *names: str) -> list[str]:
    """``--<name> <value>`` for each of ``names`` whose value is set (not None), in that order."""
    return [part for name in names if a[name] is not None for part in (flag(name), str(a[name]))]


def switches(a: dict[str, Any], *names: str) -> list[str]:
    """``--<name>`` for each of ``names`` that is on, in that order."""
    return [flag(name) for name in names if a[name]]


def num_cuda_devices(environ: dict[str, str]) -> int | None:
    for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "ZE_AFFINITY_MASK"):
        if name in environ:
            return len(environ[name].split(","))
    return None


def find_num_shards(sharded: bool | None, num_shard: int | None, environ: dict[str, str]) -> int:
    if sharded is True and num_shard is None:
        log("INFO", "Parsing num_shard from CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES/ZE_AFFINITY_MASK")
        n = num_cuda_devices(environ)
        if n is None:
            sys.stderr.write(
                "thread 'main' panicked at launcher/src/main.rs:1385:18:\n--num-shard and "
                "CUDA_VISIBLE_DEVICES/NVIDIA_VISIBLE_DEVICES/ZE_AFFINITY_MASK are not set: NotPresent\n"
            )
            raise SystemExit(101)
        if n <= 1:
            raise LauncherError("NotEnoughCUDADevices", f"`sharded` is true but only found {n} CUDA devices")
        return n
    if sharded is True and num_shard is not None and num_shard <= 1:
        raise LauncherError("ArgumentValidation", "`sharded` is true but `num_shard` <= 1")
    if num_shard is not None:
        n = num_shard
    elif sharded is False:
        n = 1
    else:
        n = num_cuda_devices(environ) or 1
    if n < 1:
        raise LauncherError("ArgumentValidation", "`num_shard` cannot be < 1")
    return n


def model_config(model_id: str) -> dict[str, Any]:
    try:
        with open(os.path.join(model_id, "config.json")) as f:
            obj = json.load(f)
        return obj if isinstance(obj, dict) else {}
    except (OSError, ValueError):
        return {}


def shard_command(a: dict[str, Any], num_shard: int, max_input_tokens: int | None) -> list[str]:
    cmd = ["text-generation-server", "serve", a["model_id"], "--uds-path", a["shard_uds_path"],
           "--logger-level", "INFO", "--json-output"]  # fmt: skip
    cmd += switches(a, "trust_remote_code")
    if num_shard > 1:
        cmd.append("--sharded")
    cmd += valued(a, "quantize", "speculate", "dtype", "kv_cache_dtype", "revision", "otlp_endpoint")
    return cmd + valued({**a, "max_input_tokens": max_input_tokens}, "otlp_service_name", "max_input_tokens")


def shard_env(
    a: dict[str, Any], environ: dict[str, str], rank: int, num_shard: int, max_total_tokens: int | None
) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k != "LOG_LEVEL"}
    env.update(
        RANK=str(rank),
        WORLD_SIZE=str(num_shard),
        MASTER_ADDR=a["master_addr"],
        MASTER_PORT=str(a["master_port"]),
        TORCH_NCCL_AVOID_RECORD_STREAMS="1",
        CUDA_MEMORY_FRACTION=str(a["cuda_memory_fraction"]),
        SAFETENSORS_FAST_GPU="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    env["HF_HUB_ENABLE_HF_TRANSFER"] = environ.get("HF_HUB_ENABLE_HF_TRANSFER", "1")
    if max_total_tokens is not None:
        env["MAX_TOTAL_TOKENS"] = str(max_total_tokens)
    for name in ("max_batch_size", "huggingface_hub_cache", "weights_cache_override"):
        if a[name] is not None:
            env[name.upper()] = str(a[name])
    if a["disable_custom_kernels"]:
        env["DISABLE_CUSTOM_KERNELS"] = "True"
    for name in ("watermark_gamma", "watermark_delta"):
        if a[name] is not None:
            env[name.upper()] = str(a[name])
    return env


# the router's valued arguments up to --usage-stats, in the launcher's order (the unset ones, e.g.
# --prometheus-port before 3.3.0 or --max-input-tokens without a value, are left out)
ROUTER_ARGS = (
    "max_client_batch_size", "max_concurrent_requests", "max_best_of", "max_stop_sequences",
    "max_top_n_tokens", "max_batch_prefill_tokens", "waiting_served_ratio", "max_waiting_tokens",
    "validation_workers", "hostname", "port", "prometheus_port", "master_shard_uds_path", "tokenizer_name",
    "payload_limit", "max_input_tokens", "max_total_tokens", "usage_stats",
)  # fmt: skip


def router_command(
    a: dict[str, Any], max_input: int | None, max_total: int | None, prefill: int
) -> list[str]:
    derived = {
        "max_batch_prefill_tokens": prefill,
        "master_shard_uds_path": f"{a['shard_uds_path']}-0",
        "tokenizer_name": a["model_id"],
        "max_input_tokens": max_input,
        "max_total_tokens": max_total,
    }
    v = {**a, **derived}
    cmd = ["text-generation-router", *valued(v, *ROUTER_ARGS)]
    cmd += switches(v, "disable_grammar_support")
    if a["tokenizer_config_path"]:
        cmd += ["--tokenizer-config-path", a["tokenizer_config_path"]]
    cmd += valued(v, "max_batch_total_tokens", "max_batch_size", "revision")
    cmd += switches(v, "trust_remote_code", "json_output")
    cmd += valued(v, "otlp_endpoint", "otlp_service_name")
    for origin in a["cors_allow_origin"]:
        cmd += ["--cors-allow-origin", origin]
    return cmd + valued(v, "api_key")
