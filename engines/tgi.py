"""Hugging Face text-generation-inference: ``text-generation-launcher``, natively or in a container.

Every deployment argument of seed 001 maps from ``engine.tgi`` (None/false/empty → flag omitted);
``num_shard`` is the placement TP. ``engine.tgi.launcher: docker|podman`` runs the official image
with the assigned GPUs, the port published on 127.0.0.1 only, and a named container that
:meth:`TGIEngine.stop_command` stops (ManagedProcess runs it on stop, before signalling the group).
Readiness: ``/health`` is 200 and ``/info`` names the served model.

Side channels: natively, each instance gets its own ``--master-port`` (torch.distributed
rendezvous), ``--shard-uds-path`` (a short per-instance path: shards bind ``{path}-{rank}``) and,
from TGI 3.3.0, ``--prometheus-port``, from the runner's :class:`engines.base.SideChannels`, unless
``engine.tgi`` sets them. A container has its own network namespace and /tmp: nothing is added.
``engine.tgi.version`` picks the flags and env vars that version has.

Environment: the launcher reads every flag it has from an env var of the same name as a fallback
(:data:`LAUNCHER_ENV`: PORT, NUM_SHARD, QUANTIZE, MAX_BATCH_SIZE, ...), so a variable that happens to
be set where the orchestrator runs would silently configure TGI. Natively, :meth:`TGIEngine.inherited_env`
drops those names from the inherited environment unless ``engine.env`` sets them; the runner logs
the dropped names (never their values) and records them as ``engine_info["env_dropped"]``. A
container sees only the ``-e`` variables we pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from engines.base import OFFLINE_ENV, LaunchSpec, SideChannels, http_get
from orchestrator.config.schema import EngineConfig, ModelConfig, TGIConfig
from orchestrator.core.errors import ConfigError

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
    t = cfg.tgi
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
    t = cfg.tgi
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


def validate(cfg: EngineConfig, model: ModelConfig) -> None:
    """ConfigError naming ``engine.tgi.<field>`` for a bad TGI option."""
    t = cfg.tgi
    if t.launcher not in LAUNCHERS:
        raise ConfigError("engine.tgi.launcher", f"unknown value '{t.launcher}'", LAUNCHERS)
    if t.quantize is not None and t.quantize not in QUANTIZE:
        raise ConfigError("engine.tgi.quantize", f"unknown value '{t.quantize}'", QUANTIZE)
    if cfg.dtype not in DTYPES:
        raise ConfigError("engine.dtype", f"TGI does not take dtype '{cfg.dtype}'", sorted(DTYPES))
    for name, _ in _VALUED:
        value = getattr(t, name)
        if isinstance(value, int | float) and not name.endswith("_port") and value <= 0:
            raise ConfigError(f"engine.tgi.{name}", f"must be > 0, got {value}")
    if parse_version(t.version) is None:
        raise ConfigError("engine.tgi.version", f"must be a version such as 3.3.7, got '{t.version}'")
    for name in ("master_port", "prometheus_port"):
        value = getattr(t, name)
        if value is not None and not 0 < value <= 65535:
            raise ConfigError(f"engine.tgi.{name}", f"must be within 1..65535, got {value}")
    if t.prometheus_port is not None and not at_least(t, PROMETHEUS_PORT):
        raise ConfigError("engine.tgi.prometheus_port", f"TGI {t.version} has no --prometheus-port "
                          "(from 3.3.0); leave it null or set engine.tgi.version")  # fmt: skip
    if t.prefix_caching and not at_least(t, PREFIX_CACHING_ENV[-1][0]):
        raise ConfigError("engine.tgi.prefix_caching", f"TGI {t.version} has no prefix cache (from 2.3.0); "
                          "leave it null or false")  # fmt: skip
    if t.max_input_length and t.max_total_tokens and t.max_input_length >= t.max_total_tokens:
        raise ConfigError(
            "engine.tgi.max_input_length",
            f"must be < engine.tgi.max_total_tokens ({t.max_input_length} >= {t.max_total_tokens})",
        )
    if t.max_total_tokens and t.max_batch_total_tokens and t.max_batch_total_tokens < t.max_total_tokens:
        raise ConfigError(
            "engine.tgi.max_batch_total_tokens",
            f"must be >= engine.tgi.max_total_tokens ({t.max_batch_total_tokens} < {t.max_total_tokens})",
        )
    if not t.image:
        raise ConfigError("engine.tgi.image", "must name a container image")


class TGIEngine:
    name = "tgi"
    client_api = "tgi"  # workloads.clients.tgi.stream_tgi on /generate_stream

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]:
        if cfg.tgi.launcher != "native":
            return container_command(cfg, model, spec)
        args = launcher_args(cfg, model, spec, spec.model_path, spec.port, spec.host, spec.side)
        return ["text-generation-launcher", *args]

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        validate(cfg, model)

    def stop_command(self, cfg: EngineConfig, spec: LaunchSpec) -> list[str] | None:
        """What stops the engine besides signalling its process group (the container, if any)."""
        if cfg.tgi.launcher == "native":
            return None
        return [cfg.tgi.launcher, "stop", "--time", "10", container_name(spec)]

    def inherited_env(
        self, cfg: EngineConfig, environ: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        """The part of the orchestrator's environment the engine inherits, and the names dropped:
        natively, the launcher's flag fallbacks (:data:`LAUNCHER_ENV`) unless ``engine.env`` sets them."""
        if cfg.tgi.launcher != "native":
            return dict(environ), []
        dropped = sorted(name for name in LAUNCHER_ENV if name in environ and name not in cfg.env)
        return {k: v for k, v in environ.items() if k not in dropped}, dropped

    def env(self, cfg: EngineConfig, spec: LaunchSpec) -> dict[str, str]:
        env = dict(OFFLINE_ENV)
        if spec.gpu_ids and cfg.tgi.launcher == "native":
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        env.update(prefix_caching_env(cfg.tgi))
        env.update(cfg.env)
        return env

    def ready(self, spec: LaunchSpec) -> bool:
        status, _ = http_get(f"{spec.base_url}/health")
        if status != 200:
            return False
        return self.info(spec).get("model_id") in {spec.model_path, spec.served_name, CONTAINER_MODEL}

    def info(self, spec: LaunchSpec) -> dict[str, object]:
        status, body = http_get(f"{spec.base_url}/info")
        if status != 200:
            return {}
        try:
            obj = json.loads(body)
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}

    def completions_url(self, spec: LaunchSpec, api: str) -> str:
        return f"{spec.base_url}/generate_stream"

    def metrics_url(self, spec: LaunchSpec) -> str | None:
        """``/metrics`` on the main port, in every version: 3.3.x's router (``router/src/server.rs``,
        v3.3.7 and main as of 2026-01) routes ``/metrics`` there and builds the
        ``--prometheus-port`` listener with ``builder.build()`` and drops its exporter, so nothing
        answers there (the port is bound at startup only: a taken one still crashes the router,
        hence still one per instance)."""
        return f"{spec.base_url}/metrics"

    def version(self, spec: LaunchSpec) -> str:
        return str(self.info(spec).get("version", "unknown"))
