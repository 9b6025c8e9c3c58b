"""Hugging Face text-generation-inference: ``text-generation-launcher``, natively or in a container.

Every deployment argument of seed 001 maps from ``engine.tgi`` (None/false/empty → flag omitted);
``num_shard`` is the placement TP. ``engine.tgi.launcher: docker|podman`` runs the official image
with the assigned GPUs, the port published on 127.0.0.1 only, and a named container that
:meth:`TGIEngine.stop_command` stops (ManagedProcess runs it on stop, before signalling the group).
Readiness: ``/health`` is 200 and ``/info`` names the served model.

Side channels: natively, each instance gets its own ``--master-port`` (torch.distributed
rendezvous), ``--shard-uds-path`` (a short per-instance path: shards bind ``{path}-{rank}``) and,
from TGI 3.3.0, ``--prometheus-port``, from the runner's :class:`engines.side_channels.SideChannels`, unless
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
from collections.abc import Mapping, Sequence
from typing import Any

from engines.base import OFFLINE_ENV, LaunchSpec, ServerDefaults, http_get, worker_record
from engines.proctree import ProcInfo
from engines.registry import register
from engines.tgi.launcher import (
    _VALUED,
    CONTAINER_MODEL,
    DTYPES,
    LAUNCHER_ENV,
    LAUNCHERS,
    PREFIX_CACHING_ENV,
    PROMETHEUS_PORT,
    QUANTIZE,
    at_least,
    container_command,
    container_name,
    launcher_args,
    parse_version,
    prefix_caching_env,
    tgi,
)
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError


def validate(cfg: EngineConfig, model: ModelConfig) -> None:
    """ConfigError naming ``engine.tgi.<field>`` for a bad TGI option."""
    t = tgi(cfg)
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


class TGIEngine(ServerDefaults):
    name = "tgi"
    client_api: str | None = "tgi"  # workloads.clients.tgi.stream_tgi on /generate_stream

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]:
        if tgi(cfg).launcher != "native":
            return container_command(cfg, model, spec)
        args = launcher_args(cfg, model, spec, spec.model_path, spec.port, spec.host, spec.side)
        return ["text-generation-launcher", *args]

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        validate(cfg, model)

    def stop_command(self, cfg: EngineConfig, spec: LaunchSpec) -> list[str] | None:
        """What stops the engine besides signalling its process group (the container, if any)."""
        if tgi(cfg).launcher == "native":
            return None
        return [tgi(cfg).launcher, "stop", "--time", "10", container_name(spec)]

    def inherited_env(
        self, cfg: EngineConfig, environ: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        """The part of the orchestrator's environment the engine inherits, and the names dropped:
        natively, the launcher's flag fallbacks (:data:`LAUNCHER_ENV`) unless ``engine.env`` sets them."""
        if tgi(cfg).launcher != "native":
            return dict(environ), []
        dropped = sorted(name for name in LAUNCHER_ENV if name in environ and name not in cfg.env)
        return {k: v for k, v in environ.items() if k not in dropped}, dropped

    def env(self, cfg: EngineConfig, spec: LaunchSpec) -> dict[str, str]:
        env = dict(OFFLINE_ENV)
        if spec.gpu_ids and tgi(cfg).launcher == "native":
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        env.update(prefix_caching_env(tgi(cfg)))
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

    def shows_ranks(self, cfg: EngineConfig) -> bool:
        return tgi(cfg).launcher == "native"  # in a container the shards are not ours to see

    def run_info(self, cfg: EngineConfig, spec: LaunchSpec, procs: Sequence[ProcInfo]) -> dict[str, Any]:
        """The shards: ``text-generation-server serve`` processes, ranked by their ``RANK``."""
        shards = sorted(
            (int(p.env["RANK"]), p)
            for p in procs
            if "text-generation-server serve" in p.cmdline and p.env.get("RANK", "").isdigit()
        )
        records = [worker_record(rank, proc, spec) for rank, proc in shards]
        launcher = tgi(cfg).launcher
        backend = "shards" if launcher == "native" else launcher  # natively: one process per shard
        size = len(records) or spec.tp  # in a container the shards are not ours to see
        return {"tensor_parallel_size": size, "executor_backend": backend, "workers": records}


register(TGIEngine.name, TGIEngine)
