"""The engine protocols: a server engine turns typed config into a command line, an environment
and its endpoints; a batch engine runs one process per trial and parses its metrics. Shared
helpers: the launch specs, readiness over HTTP, whether an instance's ranks bind CPU cores of their
own and the CPUs its placement bundle holds. Imports no engine implementation (each registers
itself in :mod:`engines.registry`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engines.proctree import ProcInfo
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


@dataclass(frozen=True)
class LaunchSpec:
    """Where and how one engine instance runs (resolved on the node that runs it)."""

    model_path: str
    served_name: str
    tp: int  # engine.tp: the engine's tensor-parallel size (its GPUs; on CPU, its ranks)
    host: str
    port: int
    device: str
    gpu_ids: tuple[str, ...] = ()
    side: SideChannels = field(default_factory=SideChannels)  # empty: the engine's own defaults
    cpu_ranks: tuple[tuple[int, ...], ...] = ()  # on CPU: the logical CPUs each rank binds (a lease)

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

    def shows_ranks(self, cfg: EngineConfig) -> bool:
        """Whether :meth:`run_info` finds one process per rank in the engine's own tree (vLLM's mp
        workers, TGI's native shards; not ranks in containers or Ray actors)."""
        ...

    def run_info(self, cfg: EngineConfig, spec: LaunchSpec, procs: Sequence[ProcInfo]) -> dict[str, Any]:
        """What the running engine really is, from its live processes: ``tensor_parallel_size``,
        ``executor_backend`` and ``workers`` (one record per rank: :func:`worker_record`)."""
        ...


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
    binds_cores_on_cpu = False  # True: on CPU each rank runs on engine.cpus cores of its own (vLLM)

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        return None

    def inherited_env(
        self, cfg: EngineConfig, environ: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        return dict(environ), []

    def stop_command(self, cfg: EngineConfig, spec: LaunchSpec) -> list[str] | None:
        return None

    def shows_ranks(self, cfg: EngineConfig) -> bool:
        return False

    def run_info(self, cfg: EngineConfig, spec: LaunchSpec, procs: Sequence[ProcInfo]) -> dict[str, Any]:
        return {"tensor_parallel_size": spec.tp, "executor_backend": None, "workers": []}


class BatchDefaults:
    """What a batch engine has unless it says otherwise: no options to check, version unknown."""

    kind = "batch"
    binds_cores_on_cpu = False

    def validate(self, cfg: EngineConfig, model: ModelConfig) -> None:
        return None

    def version(self, log_text: str) -> str:
        return "unknown"


def is_batch(engine: AnyEngine) -> bool:
    return engine.kind == "batch"


def binds_cores(engine: AnyEngine, device: str) -> bool:
    """Whether an instance's ranks run on CPU cores of their own (vLLM on CPU): it then leases
    ``tp × engine.cpus`` physical cores on its node (:mod:`engines.cpu_cores`)."""
    return device == "cpu" and bool(getattr(engine, "binds_cores_on_cpu", False))


def bundle_cpus(engine: AnyEngine, cfg: EngineConfig, device: str, tp: int) -> int:
    """The CPUs an instance's placement bundle holds: ``tp × engine.cpus`` when its ranks bind
    cores (the cores they run on), else ``engine.cpus``."""
    return tp * cfg.cpus if binds_cores(engine, device) else cfg.cpus


def worker_record(rank: int, proc: ProcInfo, spec: LaunchSpec) -> dict[str, Any]:
    """One rank of a running engine: its process and, on CPU, the logical CPUs its threads may run
    on (read from the kernel), on GPU the device it drives (rank i of a node: its i-th visible GPU)."""
    record: dict[str, Any] = {"rank": rank, "pid": proc.pid, "name": proc.cmdline[:80]}
    if spec.device == "cpu":
        record["cores"] = list(proc.cpus)
    else:
        record["gpu"] = spec.gpu_ids[rank] if 0 <= rank < len(spec.gpu_ids) else None
    return record


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
