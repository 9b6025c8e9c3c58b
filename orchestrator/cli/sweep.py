"""One sweep from the command line: store, MLflow, cluster, scheduler, the live view, the report.

While it runs, the user sees the live view (a terminal) or one line per event (anything else);
Ray's own banners and warnings only with ``--verbose``. At the end the sweep's report is written
under ``<sweep_dir>/report/`` and logged on the MLflow parent run with the sweep's summary
metrics, the summary table is printed, and the MLflow link printed is one that works: an outside
server's as is; the tool's own server is kept up until Enter or Ctrl-C on a terminal
(``tracking.keep_server``: null = on a terminal, true, false), else stopped with the exact
``python -m orchestrator.ui`` command that serves the same URL again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from orchestrator.cli.live import LiveView
from orchestrator.cli.view import PlainView, SweepView
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.errors import TrackingError
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.execution.accounting import sweep_cost
from orchestrator.execution.cluster import RayCluster
from orchestrator.execution.events import InstanceWatch
from orchestrator.execution.provenance import collect as collect_provenance
from orchestrator.report.build import report
from orchestrator.report.summary import print_summary
from orchestrator.store.reader import load_durations
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.aggregate import write_aggregates
from orchestrator.sweep.placement import check_instance
from orchestrator.tracking.server import MLflowServer
from orchestrator.tracking.sync import Uploader

KEPT_META = ("search",)
"""``sweep.json`` keys a rerun keeps: the search's ledger of GPU-seconds spent (its budget)."""


def make_view(console: Console) -> SweepView:
    """The live view on a terminal, one line per event anywhere else (CI, logs, a RayJob)."""
    return LiveView(console) if console.is_terminal else PlainView(console)


@dataclass
class Session:
    """What one run of the tool holds: the store, the view, MLflow's uploader, the cluster and the
    instances' watch; ``code`` is the exit code the run sets (130 when interrupted)."""

    cfg: ExperimentConfig
    console: Console
    store: ResultsStore
    view: SweepView
    uploader: Uploader
    cluster: RayCluster
    watch: InstanceWatch
    code: int = 0


@contextlib.contextmanager
def session(cfg: ExperimentConfig, console: Console, verbose: bool = False) -> Iterator[Session]:
    """Open the sweep's store and MLflow parent run; always stop what was started (engines,
    cluster, MLflow server) and print the MLflow link at the end. Ctrl-C or SIGTERM inside sets
    ``code`` to 130 (finished trials are recorded)."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sweep_id = cfg.sweep_id or f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store = ResultsStore(Path(cfg.results_dir).resolve(), sweep_id)
    kept = {k: v for k, v in store.sweep_meta().items() if k in KEPT_META}  # a resumed sweep's own records
    store.init_sweep(
        {
            "sweep_id": sweep_id,
            "name": cfg.name,
            "created_at": time.time(),
            "config": asdict(cfg),
            "provenance": collect_provenance(),
            **kept,
        }
    )
    view = make_view(console)
    server: MLflowServer | None = None
    uploader = Uploader(store, lambda msg: view.note(f"[yellow]warning[/] {msg}"))
    cluster = RayCluster(cfg.ray, cfg.resources, verbose=verbose)
    watch = InstanceWatch(view.instance)
    run = Session(cfg, console, store, view, uploader, cluster, watch)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # Ctrl-C even when started with SIGINT ignored (a background job of a script inherits that)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if cfg.tracking.enabled:
            try:
                uri = cfg.tracking.uri
                if uri is None:
                    console.print("starting the MLflow server ...", highlight=False)
                    server = MLflowServer(store.root / "mlflow", cfg.tracking.host, cfg.tracking.port)
                    uri = server.start(cfg.tracking.startup_timeout_s)
                tags = {"preset": cfg.name, **({"search": "slo"} if cfg.search.enabled else {})}
                uploader.connect(uri, cfg.tracking.experiment or cfg.name, asdict(cfg), tags)
            except (TrackingError, OSError) as exc:
                uploader.disable(f"MLflow unavailable: {exc}")
        yield run
    except KeyboardInterrupt:
        run.code = 130
        watch.close()
        view.stop()
        console.print("[red]interrupted[/]: stopping engines and the cluster; finished trials are recorded")
    finally:
        watch.close()
        view.stop()
        cluster.close()
        try:
            _mlflow_link(cfg, console, uploader, server, store, run.code == 130)
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
            if server is not None:
                server.stop()


def run_sweep(cfg: ExperimentConfig, trials: list[Trial], console: Console, verbose: bool = False) -> int:
    """Run every trial not already DONE in this sweep; always stop what was started."""
    # these import Ray: only once the config is valid
    from orchestrator.execution.instance import instances_at_once
    from orchestrator.execution.scheduler import Scheduler

    with session(cfg, console, verbose) as s:
        store, view, uploader, cluster, watch = s.store, s.view, s.uploader, s.cluster, s.watch
        done = store.done_ids()
        todo = [t for t in trials if t.trial_id not in done]
        if done:
            console.print(
                f"resuming sweep {store.sweep_id}: {len(trials) - len(todo)} trial(s) already DONE, "
                f"{len(todo)} to run"
            )

        def on_result(trial: Trial, result: TrialResult) -> None:
            store.write(trial, result)
            view.trial(trial, result)
            uploader.upload(trial.trial_id)  # never raises: MLflow down → marked not uploaded, warned once

        if todo:
            durations = load_durations(store.root, {t.trial_id for t in todo})
            view.note(f"sweep {store.sweep_id}: {len(todo)} trial(s) to run; starting Ray")
            cluster.open()
            nodes = cluster.nodes()
            device = cfg.resources.device
            for t in {(t.engine.name, t.engine.cpus, t.tp): t for t in todo}.values():  # vs the real nodes
                check_instance(t.engine, device, t.tp, nodes)
            view.start(todo, durations, instances_at_once(todo, cfg, nodes))
            scheduler = Scheduler(cfg, store.sweep_id, nodes, on_result, durations, watch=watch)
            scheduler.run(todo)
            held = [(i.plan.gpus, i.placed_at, i.released_at) for i in scheduler.finished]
            store.update_sweep_meta(cost=sweep_cost(held, cfg.cost.gpu_hour_usd))
        watch.close()
        view.stop()
        for config_id in write_aggregates(store, trials, cfg.stats):  # repeats > 1: mean, CI, drift
            uploader.upload(config_id, aggregate=True)
        ok = all(r["status"] == Status.DONE for r in store.all_results())
        sweep = store.load()
        if sweep.trials:  # the report, also on the MLflow parent run with the summary metrics
            report(sweep, console, mlflow=uploader.active, show=False)
        uploader.finish(ok)
        print_summary(console, store, trials)
        console.print(f"results: {store.sweep_dir}", highlight=False)
        s.code = 0 if ok else 1
    return s.code


def keep_server(setting: bool | None, console: Console) -> bool:
    """``tracking.keep_server``: true, false, or null = only on a terminal (someone to press Enter)."""
    if setting is None:
        return console.is_terminal and sys.stdin.isatty()
    return setting


def _mlflow_link(
    cfg: ExperimentConfig,
    console: Console,
    uploader: Uploader,
    server: MLflowServer | None,
    store: ResultsStore,
    interrupted: bool,
) -> None:
    """Print the sweep's MLflow URL where it works; the tool's own server: keep it up until Enter
    or Ctrl-C, or print the command that serves it again."""
    tracker, parent = uploader.tracker, uploader.parent_id
    if tracker is None or parent is None:
        return
    url = tracker.run_url(parent)
    if server is None:  # an outside server: it stays up
        console.print(f"MLflow: {url}", highlight=False)
        return
    reopen = f"python -m orchestrator.ui {store.root} --port {server.port}"
    if server.host != "127.0.0.1":
        reopen += f" --host {server.host}"
    if not interrupted and keep_server(cfg.tracking.keep_server, console):
        console.print(f"MLflow: {url}", highlight=False)
        try:
            if sys.stdin.isatty():
                console.print("press Enter (or Ctrl-C) to stop the MLflow server and exit", highlight=False)
                sys.stdin.readline()
            else:  # tracking.keep_server=true without a terminal: until Ctrl-C or SIGTERM
                console.print("MLflow server kept up: Ctrl-C (SIGTERM) stops it", highlight=False)
                while server.process is not None and server.process.alive():
                    time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    console.print(f"MLflow server stopped. To browse this sweep again: {reopen}", highlight=False)
    console.print(f"  then open {url}", highlight=False)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
