"""text-generation-launcher's command line: flags by version, side channels, the container form.

``engine.tgi.version`` picks the flags and env vars that version has (``--max-input-tokens`` from
2.0.0, ``--prometheus-port`` from 3.3.0, ``USE_PREFIX_CACHING`` in 2.3.x, ``PREFIX_CACHING`` from
3.0.0); :data:`LAUNCHER_ENV` lists the env fallbacks of its flags.
"""

from __future__ import annotations

import re
from pathlib import Path

from engines.base import OFFLINE_ENV, LaunchSpec
from engines.catalog import options
from engines.side_channels import SideChannels
from engines.tgi.config import TGIConfig
from orchestrator.config.schema import EngineConfig, ModelConfig

LAUNCHERS = ("native", "docker", "podman")
QUANTIZE = ("awq", "gptq", "bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4", "eetq", "exl2",
            "fp8", "marlin")  # fmt: skip
DTYPES = {"auto": None, "float16": "float16", "half": "float16", "bfloat16": "bfloat16"}
CONTAINER_PORT = 80
CONTAINER_DATA = "/data"
CONTAINER_MODEL = "/model"

# (config field, launcher flag): valued options, emitted when not None.
_VALUED = (
    ("max_concurrent_requests", "--max-concurrent-requests"),
    ("max_best_of", "--max-best-of"),
    ("max_stop_sequences", "--max-stop-sequences"),
    ("max_input_length", "--max-input-length"),
    ("max_total_tokens", "--max-total-tokens"),
    ("max_batch_size", "--max-batch-size"),
    ("waiting_served_ratio", "--waiting-served-ratio"),
    ("max_batch_prefill_tokens", "--max-batch-prefill-tokens"),
    ("max_batch_total_tokens", "--max-batch-total-tokens"),
    ("max_waiting_tokens", "--max-waiting-tokens"),
    ("shard_uds_path", "--shard-uds-path"),
    ("master_addr", "--master-addr"),
    ("master_port", "--master-port"),
    ("prometheus_port", "--prometheus-port"),
    ("huggingface_hub_cache", "--huggingface-hub-cache"),
    ("weights_cache_override", "--weights-cache-override"),
    ("otlp_endpoint", "--otlp-endpoint"),
    ("watermark_gamma", "--watermark-gamma"),
    ("watermark_delta", "--watermark-delta"),
)
_SWITCHES = (("disable_custom_kernels", "--disable-custom-kernels"), ("json_output", "--json-output"))


LAUNCHER_ENV: tuple[str, ...] = (
    "MODEL_ID", "REVISION", "VALIDATION_WORKERS", "SHARDED", "NUM_SHARD", "QUANTIZE", "SPECULATE",
    "DTYPE", "KV_CACHE_DTYPE", "TRUST_REMOTE_CODE", "MAX_CONCURRENT_REQUESTS", "MAX_BEST_OF",
    "MAX_STOP_SEQUENCES", "MAX_TOP_N_TOKENS", "MAX_INPUT_TOKENS", "MAX_INPUT_LENGTH",
    "MAX_TOTAL_TOKENS", "WAITING_SERVED_RATIO", "MAX_BATCH_PREFILL_TOKENS", "MAX_BATCH_TOTAL_TOKENS",
    "MAX_WAITING_TOKENS", "MAX_BATCH_SIZE", "CUDA_GRAPHS", "HOSTNAME", "PORT", "PROMETHEUS_PORT",
    "SHARD_UDS_PATH", "MASTER_ADDR", "MASTER_PORT", "HUGGINGFACE_HUB_CACHE", "WEIGHTS_CACHE_OVERRIDE",
    "DISABLE_CUSTOM_KERNELS", "CUDA_MEMORY_FRACTION", "ROPE_SCALING", "ROPE_FACTOR", "JSON_OUTPUT",
    "OTLP_ENDPOINT", "OTLP_SERVICE_NAME", "CORS_ALLOW_ORIGIN", "API_KEY", "WATERMARK_GAMMA",
    "WATERMARK_DELTA", "NGROK", "NGROK_AUTHTOKEN", "NGROK_EDGE", "TOKENIZER_CONFIG_PATH",
    "DISABLE_GRAMMAR_SUPPORT", "MAX_CLIENT_BATCH_SIZE", "LORA_ADAPTERS", "USAGE_STATS",
    "PAYLOAD_LIMIT", "ENABLE_PREFILL_LOGPROBS", "GRACEFUL_TERMINATION_TIMEOUT",
)  # fmt: skip
"""The env fallbacks of text-generation-launcher's flags: every ``#[clap(.., env)]`` field of
``Args`` in TGI v3.3.7 ``launcher/src/main.rs``, upper-cased (all but ``--env``). The launchers of
0.8.2, 1.3.4, 2.0.0, 2.3.0 and 3.0.0 read no name outside this list."""

MAX_INPUT_TOKENS = (2, 0, 0)  # --max-input-tokens (--max-input-length stays a legacy alias)
PROMETHEUS_PORT = (3, 3, 0)  # --prometheus-port (default 9000, one per host otherwise)
PREFIX_CACHING_ENV = ((3, 0, 0), "PREFIX_CACHING"), ((2, 3, 0), "USE_PREFIX_CACHING")  # none before


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``3.3.7`` → (3, 3, 7); ``v1.3.4``, ``2.3``, ``0.8.x`` too (missing parts are 0); None if no number."""
    parts: list[int] = []
    for piece in str(text).strip().lstrip("vV").split(".")[:3]:
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    if not parts:
        return None
    major, minor, patch = [*parts, 0, 0][:3]
    return major, minor, patch


def tgi(cfg: EngineConfig) -> TGIConfig:
    """``engine.tgi``, typed."""
    return options(cfg, TGIConfig)


def at_least(t: TGIConfig, version: tuple[int, int, int]) -> bool:
    """The configured launcher version is ``version`` or later (unparsable: the newest)."""
    parsed = parse_version(t.version)
    return parsed is None or parsed >= version


def prefix_caching_env(t: TGIConfig) -> dict[str, str]:
    """``engine.tgi.prefix_caching`` as the env var of the configured version ({} if unset/none)."""
    if t.prefix_caching is None:
        return {}
    for since, var in PREFIX_CACHING_ENV:
        if at_least(t, since):
            return {var: "1" if t.prefix_caching else "0"}
    return {}  # before 2.3 TGI has no prefix cache: false is what it does anyway


def side_values(t: TGIConfig, side: SideChannels) -> dict[str, object]:
    """This instance's own value for each side-channel option the user left unset."""
    out: dict[str, object] = {}
    if t.master_port is None and side.port(0) is not None:
        out["master_port"] = side.port(0)
    if t.shard_uds_path is None and side.scratch:
        out["shard_uds_path"] = f"{side.scratch}/shard"  # TGI binds {path}-{rank}
    if t.prometheus_port is None and side.port(1) is not None and at_least(t, PROMETHEUS_PORT):
        out["prometheus_port"] = side.port(1)
    return out


def container_name(spec: LaunchSpec) -> str:
    """A name unique per engine instance on this host (the port is)."""
    return f"orch-tgi-{spec.port}"


def launcher_args(cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec, model_id: str, port: int,
                  hostname: str, side: SideChannels | None = None) -> list[str]:  # fmt: skip
    """The text-generation-launcher arguments (without the program name); ``side``: this
    instance's own side channels for the options left unset (none in a container)."""
    t = tgi(cfg)
    own = side_values(t, side) if side is not None else {}
    args = ["--model-id", model_id, "--hostname", hostname, "--port", str(port)]
    if model.revision:
        args += ["--revision", model.revision]
    if t.sharded is not None:
        args += ["--sharded", "true" if t.sharded else "false"]
    if t.sharded is not False:
        args += ["--num-shard", str(spec.tp)]
    quantize = t.quantize or cfg.quantization
    if quantize:
        args += ["--quantize", quantize]
    elif DTYPES.get(cfg.dtype):
        args += ["--dtype", str(DTYPES[cfg.dtype])]
    if model.trust_remote_code:
        args.append("--trust-remote-code")
    for name, flag in _VALUED:
        value = getattr(t, name) if getattr(t, name) is not None else own.get(name)
        if name == "max_input_length" and at_least(t, MAX_INPUT_TOKENS):
            flag = "--max-input-tokens"
        if value is not None:
            args += [flag, str(value)]
    for name, flag in _SWITCHES:
        if getattr(t, name):
            args.append(flag)
    for origin in t.cors_allow_origin:
        args += ["--cors-allow-origin", origin]
    return args + list(cfg.extra_args)


def container_command(cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]:
    """``docker|podman run`` of the official image, GPUs = the assigned ones, port on 127.0.0.1."""
    t = tgi(cfg)
    local_model = Path(spec.model_path).is_dir()
    argv = [t.launcher, "run", "--rm", "--name", container_name(spec), "--shm-size", t.shm_size,
            "-p", f"{spec.host}:{spec.port}:{CONTAINER_PORT}"]  # fmt: skip
    if spec.gpu_ids:
        devices = ",".join(spec.gpu_ids)
        argv += (
            ["--gpus", f'"device={devices}"']
            if t.launcher == "docker"
            else [*(a for g in spec.gpu_ids for a in ("--device", f"nvidia.com/gpu={g}"))]
        )
    if t.huggingface_hub_cache:
        argv += ["-v", f"{t.huggingface_hub_cache}:{CONTAINER_DATA}"]
    if local_model:
        argv += ["-v", f"{spec.model_path}:{CONTAINER_MODEL}:ro"]
    for key, value in {**OFFLINE_ENV, **prefix_caching_env(t), **cfg.env}.items():
        argv += ["-e", f"{key}={value}"]
    argv.append(t.image)
    inner = TGIConfig(
        **{**vars(t), "huggingface_hub_cache": CONTAINER_DATA if t.huggingface_hub_cache else None}
    )
    inner_cfg = EngineConfig(**{**vars(cfg), "tgi": inner})
    model_id = CONTAINER_MODEL if local_model else spec.model_path
    return argv + launcher_args(inner_cfg, model, spec, model_id, CONTAINER_PORT, "0.0.0.0")
