"""Any other trial (``smoke``, command-engine sweeps, ...): the summary table of :mod:`.summary`,
one per kind of trial, with that kind's columns; and the key figures of such a sweep."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.config.schema import ReportConfig
from orchestrator.report.render import Section, Table, fmt
from orchestrator.report.summary import KIND_TITLES, SUMMARY_COLUMNS, kind_columns, trial_kind
from orchestrator.store.reader import TrialData

HEADERS = ["trial", "engine", "tp", "workload", "status", *(label for _, label in SUMMARY_COLUMNS)]


def _label(t: TrialData) -> str:
    suffix = t.name.split(f"-tp{t.tp}-", 1)
    return suffix[1] if len(suffix) == 2 else t.name


def kind_of(t: TrialData) -> str:
    return trial_kind(t.engine_name, str(t.workload.get("name", "")))


def sections(trials: Sequence[TrialData], cfg: ReportConfig | None = None) -> list[Section]:
    by_kind: dict[str, list[TrialData]] = {}
    for t in sorted(trials, key=lambda t: (t.engine_name, t.tp, t.name)):
        by_kind.setdefault(kind_of(t), []).append(t)
    tables = []
    for kind, mine in by_kind.items() or {"serving": []}.items():
        columns = kind_columns(kind, [t.metrics for t in mine if t.done])
        title = KIND_TITLES[kind] if len(by_kind) > 1 else ""
        table = Table(title, [*HEADERS[:5], *(label for _, label in columns)])
        for t in mine:
            cells = [fmt(t.metrics.get(k)) if t.done else "-" for k, _ in columns]
            table.rows.append([t.trial_id, t.engine_name, str(t.tp), _label(t), t.status_text, *cells])
        tables.append(table)
    return [Section("Summary", tables)]


def key_figures(trials: Sequence[TrialData]) -> dict[str, float]:
    """The best throughput among the serving trials (their key figure: ``best_output_token_throughput``)."""
    out: dict[str, float] = {}
    serving = [t for t in trials if t.done and kind_of(t) == "serving"]
    for metric in ("output_token_throughput", "request_throughput"):
        values = [float(t.metrics[metric]) for t in serving if metric in t.metrics]
        if values:
            out[f"best_{metric}"] = max(values)
    return out
