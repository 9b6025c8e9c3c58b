"""Pick the reports a sweep's trials call for, write them, and log them to MLflow.

Each trial goes to the first report that applies to it: static batches (seed 001), FlexGen
(seed 000), the all-at-once input × output grid (seeds 003/004); the rest to the generic summary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from engines.base import http_get
from orchestrator.report import flexgen_compare, generic, serving_grid, static_batch
from orchestrator.report.load import SweepData, TrialData
from orchestrator.report.render import Section, print_sections, write_report

Report = tuple[Callable[[TrialData], bool], Callable[[Sequence[TrialData]], list[Section]]]
REPORTS: tuple[Report, ...] = (
    (static_batch.applies, static_batch.sections),
    (flexgen_compare.applies, flexgen_compare.sections),
    (serving_grid.applies, serving_grid.sections),
)


def build_sections(sweep: SweepData) -> list[Section]:
    claimed: set[str] = set()
    out: list[Section] = []
    for applies, make in REPORTS:
        mine = [t for t in sweep.trials if t.trial_id not in claimed and applies(t)]
        if mine:
            out += make(mine)
            claimed.update(t.trial_id for t in mine)
    rest = [t for t in sweep.trials if t.trial_id not in claimed]
    if rest or not out:
        out += generic.sections(rest)
    return out


def log_to_mlflow(sweep: SweepData, files: Sequence[Path], console: Console) -> bool:
    """Log ``files`` under ``report/`` on the sweep's parent run; warn (False) when that is not possible."""
    uri, run_id = sweep.meta.get("mlflow_uri"), sweep.meta.get("mlflow_parent_run_id")
    if not uri or not run_id:
        console.print("[yellow]warning[/] the sweep has no MLflow run recorded: report kept locally")
        return False
    if http_get(f"{uri}/health")[0] != 200:
        console.print(f"[yellow]warning[/] MLflow at {uri} does not answer: report kept locally")
        return False
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        for path in files:
            client.log_artifact(run_id, str(path), artifact_path="report")
    except (MlflowException, OSError) as exc:
        console.print(f"[yellow]warning[/] logging the report to MLflow run {run_id} failed: {exc}")
        return False
    console.print(f"report logged to MLflow run {run_id} ({uri})", highlight=False)
    return True


def report(sweep: SweepData, console: Console, *, mlflow: bool = True) -> list[Path]:
    """Render the sweep to the terminal, ``<sweep_dir>/report/`` (Markdown + PNG) and MLflow."""
    sections = build_sections(sweep)
    print_sections(console, sections)
    title = f"{sweep.name}: sweep {sweep.sweep_id}"
    files = write_report(sweep.sweep_dir / "report", title, sections)
    console.print(f"report: {files[0]}", highlight=False)
    if mlflow:
        log_to_mlflow(sweep, files, console)
    return files
