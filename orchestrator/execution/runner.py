"""Run one engine instance and its workload points. Plain Python: the Ray actor wraps it.

Lifecycle: resolve the model on this node → on CPU lease the cores of the ranks → start the engine
process (own group, log file, confined to those cores) → wait for readiness → record what it runs
→ for each workload point: build exact-length prompts, drive the load, compute metrics → stop the
engine. Failures become FAILED results with the engine log, never zeros.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from engines import side_channels
from engines.base import AnyEngine, BatchEngine, BatchSpec, Engine, LaunchSpec, http_get, is_batch
from engines.cpu_cores import CoreLease
from engines.liveness import EngineWatch
from engines.process import ManagedProcess, classify_failure, free_port, log_note, tail
from engines.registry import get_engine
from engines.telemetry import PointTelemetry
from engines.tiny_model import ensure_tiny_model
from orchestrator.config.schema import EngineConfig, ModelConfig
from orchestrator.core.load import LoadSpec, Strategy
from orchestrator.core.results import TrialResult
from orchestrator.core.status import FailureReason, Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import Flag, FlagKind, failing
from orchestrator.execution.batch import run_batch_trial
from orchestrator.execution.engine_run import lease_cores, ran_info, ranks_flags
from orchestrator.execution.progress import Progress, SendCounter, sent_total
from orchestrator.execution.provenance import node_info
from workloads.checks import check_point
from workloads.records import RequestRecord

MAX_LOG_BYTES = 2_000_000
HEALTH_TIMEOUT_S = 10.0  # a busy engine on a small machine may answer /health slowly; a hung one never


def resolve_model_path(model: ModelConfig) -> str:
    """``tiny`` → the locally built test model on this node; anything else as given."""
    return str(ensure_tiny_model()) if model.path == "tiny" else model.path


@dataclass
class EngineRunner:
    engine_cfg: EngineConfig
    model: ModelConfig
    tp: int
    device: str
    work_dir: Path
    host: str = "127.0.0.1"
    engine: AnyEngine = field(init=False)
    batch_spec: BatchSpec | None = field(default=None, init=False)
    spec: LaunchSpec | None = field(default=None, init=False)
    process: ManagedProcess | None = field(default=None, init=False)
    info: dict[str, Any] = field(default_factory=dict, init=False)
    cores: CoreLease | None = field(default=None, init=False)  # on CPU: the ranks' own cores
    _tokenizer: Any = field(default=None, init=False)
    progress: Progress = field(default_factory=Progress, init=False)  # read by EngineActor.progress

    def __post_init__(self) -> None:
        self.engine = get_engine(self.engine_cfg.name)

    def _server(self) -> Engine:
        return cast(Engine, self.engine)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "engine.log"

    def start(self, gpu_ids: list[str], cpus: int | None = None) -> dict[str, Any]:
        """Start the engine and wait until it serves the model; raises EngineError. ``cpus``: the
        CPUs Ray assigned the actor (on CPU, the cores its ranks lease; None: tp × engine.cpus)."""
        self.progress.enter("loading model")
        model_path = resolve_model_path(self.model)
        if is_batch(self.engine):  # one process per trial, started by run_point
            self.batch_spec = BatchSpec(model_path, self.tp, self.device, self.work_dir, tuple(gpu_ids))
            self.info = {"engine": self.engine.name, "engine_tp": self.tp, "gpu_ids": list(gpu_ids),
                         "device": self.device}  # fmt: skip
            return self.info
        self.cores = lease_cores(self.engine, self.engine_cfg, self.device, self.tp, cpus, self.log_path)
        port = free_port(self.host)
        self.spec = LaunchSpec(
            model_path=model_path, served_name=self.model.name, tp=self.tp, host=self.host, port=port,
            device=self.device, gpu_ids=tuple(gpu_ids),
            side=side_channels.allocate(self.host, self.engine.name, port),  # its own, per instance
            cpu_ranks=self.cores.ranks if self.cores else (),
        )  # fmt: skip
        argv = self._server().command(self.engine_cfg, self.model, self.spec)
        parent, dropped = self._inherited_env()
        env = {**parent, **self._server().env(self.engine_cfg, self.spec)}
        stop_argv = self._server().stop_command(self.engine_cfg, self.spec)  # e.g. docker stop NAME
        lease = self.cores  # on CPU the engine's tree runs on its cores; its watchdog holds the lease
        self.process = ManagedProcess(argv, self.log_path, env=env, stop_argv=stop_argv,
                                      cpus=lease.cpus if lease else None, pass_fds=lease.fds if lease else (),
                                      scratch=self.spec.side.scratch)  # fmt: skip
        t0 = time.monotonic()
        self.progress.enter("starting engine", self.engine_cfg.startup_timeout_s, self.log_path)
        self.process.start()
        spec = self.spec
        self.process.wait_ready(lambda: self._server().ready(spec), self.engine_cfg.startup_timeout_s)
        self.info = {
            "engine": self.engine.name,
            "engine_version": self._server().version(spec),
            "reference_version": self.engine_cfg.reference_version,  # what the seed measured
            "engine_tp": self.tp,  # as launched; tensor_parallel_size: as its processes show
            "placement_tp": self.tp,
            "gpu_ids": list(gpu_ids),
            "device": self.device,
            "startup_s": round(time.monotonic() - t0, 3),
            "base_url": spec.base_url,
            "pgid": self.process.pid,
            "command": argv,
            "side_channels": {"ports": list(spec.side.ports), "scratch": spec.side.scratch},
            "env_dropped": dropped,  # inherited variables the engine would have read as flags
            "node": node_info(),  # hostname, CPU, GPU names of the node that ran the engine
            **ran_info(self._server(), self.engine_cfg, spec, self.process, self.cores),
        }
        return self.info

    def _inherited_env(self) -> tuple[dict[str, str], list[str]]:
        """This process's environment as the engine inherits it, and the names left out (TGI: the
        launcher's flag fallbacks, ``engines.tgi.launcher.LAUNCHER_ENV``), which the engine log records."""
        parent, dropped = self._server().inherited_env(self.engine_cfg, os.environ)
        if dropped:
            self.note(f"not passed to {self.engine.name} from this environment (it reads them as flags; "
                      f"set them in engine.env to pass them): {', '.join(dropped)}")  # fmt: skip
        return parent, dropped

    def note(self, text: str) -> None:
        """One line from the orchestrator in the engine log."""
        log_note(self.log_path, "orchestrator", text)

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            assert self.spec is not None
            self._tokenizer = AutoTokenizer.from_pretrained(self.spec.model_path)
        return self._tokenizer

    def run_point(self, trial: Trial) -> TrialResult:
        """Drive one workload point against the running engine (or run one batch-engine trial)."""
        if is_batch(self.engine):
            assert self.batch_spec is not None
            batch_engine = cast(BatchEngine, self.engine)
            log = self.batch_spec.work_dir / trial.trial_id / "engine.log"  # run_batch_trial's
            self.progress.enter("running", self.engine_cfg.trial_timeout_s, log)
            result = run_batch_trial(batch_engine, self.engine_cfg, self.model, trial, self.batch_spec)
            result.add_engine_info(self.info)
            return result
        # imported here: batch engines (command, FlexGen) never load the HTTP client stack, which
        # would add ~0.4 s to every engine actor's start on a small machine
        from workloads.point_run import Target
        from workloads.strategies import run_strategy

        started = time.time()
        assert self.spec is not None and self.process is not None
        if not self.process.alive():  # died between points: never send to a dead port
            return self._engine_gone(trial, started, "the engine process exited before this point")
        spec = trial.point
        client_api = self._server().client_api
        if client_api:  # TGI: its native /generate_stream
            spec = dataclasses.replace(spec, api=client_api)
        url = self._server().completions_url(self.spec, trial.point.api)
        gpus = self.spec.gpu_ids if self.device == "gpu" else ()
        telemetry = PointTelemetry(self._server().metrics_url(self.spec), gpus)
        health_url = f"{self.spec.base_url}/health"
        watch = EngineWatch(self.process, lambda: http_get(health_url, HEALTH_TIMEOUT_S)[0] == 200)
        telemetry.start()  # engine /metrics before/during/after, NVML GPU memory
        try:
            with watch:
                sends = SendCounter(watch.stopped)  # the workload reads it once per send
                self.progress.enter("measuring", total=sent_total(spec), sends=sends)
                target = Target(url, self.spec.served_name, self.tokenizer(), stop=sends)
                outcome = run_strategy(spec, target)
        finally:
            telemetry.stop()
        if watch.stopped.is_set() or not self.process.alive():
            why = watch.why or "the engine process exited during this point"
            return self._engine_gone(trial, started, why, outcome.records)
        metrics = {**outcome.metrics, **telemetry.metrics()}
        result = TrialResult(
            trial_id=trial.trial_id,
            status=Status.DONE,
            metrics={k: float(v) for k, v in metrics.items()},
            records=[r.to_dict() for r in outcome.records],
            engine_info=dict(self.info),
            started_at=started,
            steps=outcome.steps,
            message=outcome.message,
        )
        result.flags = check_point(spec, metrics) + ranks_flags(self.info, self.tp)
        if not metrics.get("valid", True):
            result.status = Status.FAILED
            result.reason, why = invalid_reason(metrics, trial.point)
            result.message = outcome.message or why
            if result.reason is FailureReason.CLIENT_BEHIND:
                result.flags.append(Flag(FlagKind.CLIENT_BEHIND, why, fails=True))
        elif (flag := failing(result.flags)) is not None:
            result.status = Status.FAILED
            result.reason = FailureReason(str(flag.kind))
            result.message = flag.reason
        result.ended_at = time.time()
        return result

    def _engine_gone(
        self, trial: Trial, started: float, why: str, records: Sequence[RequestRecord] = ()
    ) -> TrialResult:
        """FAILED(engine_crash or oom) with the exit status and log tail; the records are kept, no
        metrics (never numbers from a dead engine). The ``engine_exited`` flag tells the scheduler
        to run the instance's remaining points on a fresh engine."""
        assert self.process is not None
        self.process.stop()  # whatever is left of the group (ranks, shards)
        code = self.process.returncode
        text = tail(self.log_path, 400)
        message = f"{why}; exit code {code}" if "exit code" not in why else why
        last = text.rstrip().rsplit("\n", 1)[-1].strip()
        if last:
            message += f"; last log line: {last[:200]}"
        return TrialResult(
            trial_id=trial.trial_id,
            status=Status.FAILED,
            reason=classify_failure(text, code),
            message=message,
            records=[r.to_dict() for r in records],
            engine_info={**self.info, "exit_code": code},
            engine_log=self.log_text(),
            started_at=started,
            ended_at=time.time(),
            flags=[Flag(FlagKind.ENGINE_EXITED, message, fails=True)],
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.spec is not None:
            side_channels.release(self.spec.side)
        if self.cores is not None:  # the engine's group is gone: its watchdog's copies are closed
            self.cores.release()

    def log_text(self) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        return data[-MAX_LOG_BYTES:].decode("utf-8", "replace")


def invalid_reason(metrics: dict[str, Any], point: LoadSpec) -> tuple[FailureReason, str]:
    """Why a finished workload's summary is not valid, naming the limit and how to change it."""
    error_rate = float(metrics.get("error_rate", 0.0))
    if not metrics.get("num_requests", 0):
        return FailureReason.REQUEST_ERRORS, "no measured request was sent (check workload.num_requests)"
    if error_rate > point.max_error_rate:
        return FailureReason.REQUEST_ERRORS, (
            f"error rate {error_rate:.2%} > workload.max_error_rate={point.max_error_rate:g} "
            "(errors by kind are in the trial's metrics, each error in its records)"
        )
    failed_runs = int(metrics.get("failed_runs", 0) or 0)
    if point.name == Strategy.STATIC_BATCH and failed_runs:
        return FailureReason.REQUEST_ERRORS, (
            f"{failed_runs} of {point.runs} static-batch runs had a failed request: a run's prefill and "
            "decode figures need all of its batch (each error is in the trial's records)"
        )
    delay = float(metrics.get("send_delay_p99_ms", 0.0))
    return FailureReason.CLIENT_BEHIND, (
        f"the client fell behind: send delay p99 {delay:.1f} ms > workload.max_send_delay_ms="
        f"{point.max_send_delay_ms:g}; lower the rate, give the client more CPU, or raise the limit"
    )


def failed_result(trial: Trial, message: str, reason: FailureReason, log_text: str = "") -> TrialResult:
    """A FAILED result for a trial whose engine could not run it (the message's first line)."""
    now = time.time()
    return TrialResult(
        trial_id=trial.trial_id,
        status=Status.FAILED,
        reason=reason,
        message=message.splitlines()[0] if message else "",
        engine_log=log_text,
        started_at=now,
        ended_at=now,
    )


def exception_text(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
