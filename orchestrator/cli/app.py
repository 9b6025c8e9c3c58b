"""The command line flow: compose → validate → expand → (dry run | cluster → schedule → record)."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from engines.registry import registry
from orchestrator.cli.dry_run import print_launch_commands, print_plan
from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.store import load_experiment
from orchestrator.core.errors import ConfigError, OrchestratorError, TrackingError
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import flags_text
from orchestrator.execution.cluster import RayCluster
from orchestrator.execution.provenance import collect as collect_provenance
from orchestrator.report.summary import print_summary
from orchestrator.store.reader import load_durations
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand
from orchestrator.sweep.multi_engine import engine_configs
from orchestrator.sweep.placement import check_cpus, check_tp, planned_nodes
from orchestrator.tracking.server import MLflowServer
from orchestrator.tracking.sync import Uploader

USAGE = """usage: python -m orchestrator [+exp=<preset>] [key=value ...] [--dry-run]

Hydra overrides, e.g.  +exp=tgi_tp_sweep engine.tp=[2,4] workload.concurrency=[1,8]
  --dry-run   validate, print the trial list, placement plan and each engine instance's
              launch command (ports and paths as placeholders), start nothing
  --cfg       print the composed config and exit
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    if "-h" in args or "--help" in args:
        console.print(USAGE, markup=False)
        return 0
    show_cfg = "--cfg" in args
    dry_run = "--dry-run" in args
    overrides = [a for a in args if a not in ("--cfg", "--dry-run")]
    try:
        cfg = load_experiment(overrides)
        cfg.dry_run = cfg.dry_run or dry_run
        nodes = planned_nodes(cfg.resources) if not cfg.ray.address else _any_nodes()
        configs = engine_configs(cfg, overrides, registry().keys(), nodes)  # validated; one per engine
        trials = [] if cfg.kind == "planner" else [t for c in configs for t in expand(c)]
    except ConfigError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]config error[/] {exc}", highlight=False)
        return exc.exit_code
    if show_cfg:
        from omegaconf import OmegaConf

        console.print(OmegaConf.to_yaml(OmegaConf.structured(cfg)), markup=False)
        return 0
    if cfg.kind == "planner":  # pure computation: no Ray, no engines, no MLflow server
        return _run_planner(cfg, console)
    if cfg.dry_run:
        print_plan(console, cfg, trials, nodes)  # with ray.address: the cluster is not known yet
        print_launch_commands(console, configs)
        return 0
    try:
        return run_sweep(cfg, trials, console)
    except OrchestratorError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error[/] {exc}", highlight=False)
        return exc.exit_code


def _run_planner(cfg: ExperimentConfig, console: Console) -> int:
    from orchestrator.planner import run

    try:
        return run(cfg, console)
    except OrchestratorError as exc:
        label = "config error" if isinstance(exc, ConfigError) else "error"
        Console(stderr=True, soft_wrap=True).print(f"[bold red]{label}[/] {exc}", highlight=False)
        return exc.exit_code


def _any_nodes() -> list[Any]:
    """With ``ray.address`` the real nodes are checked after connecting; accept any TP before."""
    from orchestrator.sweep.placement import NodeSpec

    return [NodeSpec(16, 1 << 16)]


def run_sweep(cfg: ExperimentConfig, trials: list[Trial], console: Console) -> int:
    """Run every trial not already DONE in this sweep; always stop what was started."""
    from orchestrator.execution.scheduler import Scheduler  # imports Ray: only once the config is valid

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sweep_id = cfg.sweep_id or f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store = ResultsStore(Path(cfg.results_dir).resolve(), sweep_id)
    store.init_sweep(
        {
            "sweep_id": sweep_id,
            "name": cfg.name,
            "created_at": time.time(),
            "config": asdict(cfg),
            "provenance": collect_provenance(),
        }
    )
    done = store.done_ids()
    todo = [t for t in trials if t.trial_id not in done]
    if done:
        console.print(
            f"resuming sweep {sweep_id}: {len(trials) - len(todo)} trial(s) already DONE, {len(todo)} to run"
        )
    server: MLflowServer | None = None
    uploader = Uploader(store, lambda msg: console.print(f"[yellow]warning[/] {msg}", highlight=False))
    cluster = RayCluster(cfg.ray, cfg.resources)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # Ctrl-C even when started with SIGINT ignored (a background job of a script inherits that)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if cfg.tracking.enabled:
            try:
                uri = cfg.tracking.uri
                if uri is None:
                    server = MLflowServer(store.root / "mlflow", cfg.tracking.host, cfg.tracking.port)
                    uri = server.start(cfg.tracking.startup_timeout_s)
                uploader.connect(uri, cfg.tracking.experiment or cfg.name, asdict(cfg), {"preset": cfg.name})
            except (TrackingError, OSError) as exc:
                uploader.disable(f"MLflow unavailable: {exc}")

        def on_result(trial: Trial, result: TrialResult) -> None:
            store.write(trial, result)
            status = "[green]DONE[/]" if result.status == Status.DONE else f"[red]FAILED({result.reason})[/]"
            if result.flags and result.status == Status.DONE:
                status = f"[yellow]DONE*[/] flags: {flags_text(result.flags)};"
                notes = "; ".join(f.reason for f in result.flags)
                result_message = f"{result.message} {notes}".strip()
            else:
                result_message = result.message
            console.print(f"{status} {trial.name} {trial.trial_id} {result_message}", highlight=False)
            uploader.upload(trial.trial_id)  # never raises: MLflow down → marked not uploaded, warned once

        if todo:
            cluster.open()
            nodes = cluster.nodes()
            for tp in sorted({t.tp for t in todo}):
                check_tp(tp, nodes)
            for t in {(t.engine.name, t.tp): t for t in todo}.values():  # bundles' CPUs vs the real nodes
                check_cpus(t.engine, cfg.resources.device, t.tp, nodes)
            durations = load_durations(store.root, {t.trial_id for t in todo})
            Scheduler(cfg, sweep_id, nodes, on_result, durations).run(todo)
        ok = all(r["status"] == Status.DONE for r in store.all_results())
        uploader.finish(ok)
        print_summary(console, store, trials)
        if uploader.active and uploader.tracker is not None and uploader.parent_id is not None:
            console.print(f"MLflow: {uploader.tracker.run_url(uploader.parent_id)}", highlight=False)
        console.print(f"results: {store.sweep_dir}", highlight=False)
        return 0 if ok else 1
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]: stopping engines and the cluster; finished trials are recorded")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        cluster.close()
        if server is not None and not cfg.tracking.keep_server:
            server.stop()
        elif server is not None:
            console.print(
                f"MLflow server left running at {server.uri} (pid {server.process and server.process.pid})"
            )


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
