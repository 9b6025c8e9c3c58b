"""Any other trial (``smoke``, command-engine sweeps, ...): the summary table of :mod:`.summary`,
one per kind of trial, with that kind's columns; and the key figures of such a sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.config.schema import ReportConfig
from orchestrator.report.intervals import note, value_text
from orchestrator.report.render import Section, Table, new_figure
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
            cells = [value_text(t, k) if t.done else "-" for k, _ in columns]
            table.rows.append([t.trial_id, t.engine_name, str(t.tp), _label(t), t.status_text, *cells])
        table.note = note(mine)  # with repeats: what ± means
        tables.append(table)
    serving = by_kind.get("serving", [])
    figures = {"summary.png": fig} if (fig := serving_plot(serving)) is not None else {}
    return [Section("Summary", tables, figures)]


def swept_axis(trials: Sequence[TrialData]) -> str | None:
    """The workload field the serving trials vary (concurrency, rate, input or output length)."""
    for axis in ("concurrency", "rate", "input_len", "output_len"):
        if len({t.workload.get(axis) for t in trials if t.workload.get(axis) is not None}) > 1:
            return axis
    return None


AXIS_LABELS = {"concurrency": "concurrency (requests in flight)", "rate": "offered rate (requests/s)",
               "input_len": "input length (tokens)", "output_len": "output length (tokens)"}  # fmt: skip


def serving_plot(trials: Sequence[TrialData]) -> Any | None:
    """Output tokens/s and TTFT p50 against the swept workload axis, one line per engine and TP
    (None when no axis varies or no trial finished)."""
    axis = swept_axis(trials)
    done = [t for t in trials if t.done]
    if axis is None or not done:
        return None
    fig, axes = new_figure(2)
    lines: dict[str, list[TrialData]] = {}
    for t in done:
        lines.setdefault(f"{t.engine_name} TP {t.tp}", []).append(t)
    for ax, (metric, label) in zip(axes, PLOTTED, strict=True):
        for name, mine in lines.items():
            pts = sorted((float(t.workload[axis]), t.metrics[metric]) for t in mine if metric in t.metrics)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
        ax.set(xlabel=AXIS_LABELS[axis], ylabel=label, title=label)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return fig


PLOTTED = (("output_token_throughput", "output tokens/s"), ("ttft_p50_ms", "TTFT p50 (ms)"))


def key_figures(trials: Sequence[TrialData]) -> dict[str, float]:
    """The best throughput among the serving trials (their key figure: ``best_output_token_throughput``)."""
    out: dict[str, float] = {}
    serving = [t for t in trials if t.done and kind_of(t) == "serving"]
    for metric in ("output_token_throughput", "request_throughput"):
        values = [float(t.metrics[metric]) for t in serving if metric in t.metrics]
        if values:
            out[f"best_{metric}"] = max(values)
    return out
