"""``python -m orchestrator +exp=planner_vs_wlb``: compare, print, and store the report.

Prints every batch in the seed's format (baselines, then ours, then the ratio), a summary table,
and, as its very last line, the geometric mean over batches of best-baseline / ours as a plain
number. The report goes to ``<results_dir>/<sweep_id>/report/<name>.{md,json}``, and to MLflow
when ``tracking.uri`` names a running server (no server is started for a planner run).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.validate import validate_planner
from orchestrator.planner.calibration import load_calibration
from orchestrator.planner.compare import BatchComparison, compare_batch, geometric_mean
from orchestrator.planner.render import (
    SUMMARY_HEADER,
    batch_lines,
    document,
    header_lines,
    markdown,
    summary_rows,
)
from orchestrator.store.results import ResultsStore


def run_planner(cfg: ExperimentConfig, console: Console) -> int:
    validate_planner(cfg.planner)
    cal = load_calibration(cfg.planner.calibration_path)
    results = [compare_batch(b, cal.model, cfg.planner) for b in cfg.planner.batches]
    for line in header_lines(cal) + [line for c in results for line in batch_lines(c)]:
        console.print(line, markup=False, highlight=False)
    table = Table(title="Ours vs WLB-LLM (max latency, ms)")
    for col in SUMMARY_HEADER:
        table.add_column(col)
    for row in summary_rows(results):
        table.add_row(*row)
    console.print(table)

    sweep_id = cfg.sweep_id or f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store = ResultsStore(Path(cfg.results_dir).resolve(), sweep_id)
    store.init_sweep(
        {
            "sweep_id": sweep_id,
            "name": cfg.name,
            "kind": cfg.kind,
            "created_at": time.time(),
            "config": asdict(cfg),
        }
    )
    report_dir = write_report(store.report_dir, cfg.name, document(cal, results), markdown(cal, results))
    console.print(f"report: {report_dir}", highlight=False)
    log_mlflow(cfg, sweep_id, results, report_dir, console)
    ratio = geometric_mean([c.ratio for c in results])
    console.print(
        f"ratio best-baseline / ours, geometric mean over {len(results)} batch(es):", highlight=False
    )
    console.print(f"{ratio:.4f}", highlight=False)
    return 0


def write_report(report_dir: Path, name: str, doc: dict[str, Any], md: str) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(doc, indent=2)), (".md", md)):
        tmp = report_dir / f".{name}{suffix}.tmp"
        tmp.write_text(text)
        tmp.replace(report_dir / f"{name}{suffix}")
    return report_dir


def metrics(results: list[BatchComparison]) -> dict[str, float]:
    out: dict[str, float] = {"ratio_geomean": geometric_mean([c.ratio for c in results])}
    for i, c in enumerate(results):
        out[f"batch{i}_ours_ms"] = c.ours.latency
        out[f"batch{i}_best_baseline_ms"] = c.best_baseline.latency
        out[f"batch{i}_ratio"] = c.ratio
    return out


def log_mlflow(
    cfg: ExperimentConfig, sweep_id: str, results: list[BatchComparison], report_dir: Path, console: Console
) -> None:
    """One run with the ratios as metrics and the report as artifacts, if ``tracking.uri`` is set."""
    if not (cfg.tracking.enabled and cfg.tracking.uri):
        return
    from orchestrator.tracking.tracker import Tracker

    try:
        tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment or cfg.name)
        run_id = tracker.parent_run(
            sweep_id, {"planner": asdict(cfg.planner)}, {"preset": cfg.name, "experiment_kind": "planner"}
        )
        tracker.log_metrics(run_id, metrics(results))
        tracker.log_files(run_id, sorted(report_dir.iterdir()), "report")
        tracker.finish(run_id, True)
        console.print(f"MLflow: {tracker.run_url(run_id)}", highlight=False)
    except Exception as exc:  # MLflow unreachable or refusing: the report stays local
        console.print(f"[yellow]warning[/] MLflow logging failed, report kept locally: {exc}")
