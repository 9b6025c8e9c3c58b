"""The summary table of a sweep, with the columns each kind of trial has figures for.

- serving trials (an engine behind HTTP, any open/closed loop): TTFT/TPOT/ITL/E2E and throughput;
- static batches (seed 001): prefill and decode latency and throughput (averages over the runs);
- FlexGen: its own latency, throughput and peak GPU memory;
- the command engine: whatever numeric metrics its command wrote (the first few, by name; not the
  cost, co-tenancy and node figures the tool adds to every point).

A sweep mixing kinds gets one table per kind. A failed trial shows no numbers, never zeros. With
repeats, one row per configuration from its aggregate: each figure is ``mean ± half-width`` of its
bootstrap interval (``stats.level``) and ``repeats`` says how many finished.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.core.load import Strategy
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import flags_text
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.repeats import repeats_of

Columns = tuple[tuple[str, str], ...]  # (metric key, header)
SUMMARY_COLUMNS: Columns = (
    ("ttft_p50_ms", "TTFT p50 ms"),
    ("ttft_p99_ms", "TTFT p99 ms"),
    ("tpot_p50_ms", "TPOT p50 ms"),
    ("itl_p99_ms", "ITL p99 ms"),
    ("e2e_p50_ms", "E2E p50 ms"),
    ("request_throughput", "req/s"),
    ("output_token_throughput", "out tok/s"),
)
"""Serving trials."""
STATIC_BATCH_COLUMNS: Columns = (
    ("prefill_latency_avg_ms", "prefill ms"),
    ("decode_token_latency_avg_ms", "decode/token ms"),
    ("decode_total_latency_avg_ms", "decode total ms"),
    ("prefill_throughput_avg", "prefill tok/s"),
    ("decode_throughput_avg", "decode tok/s"),
)
FLEXGEN_COLUMNS: Columns = (
    ("prefill_latency_s", "prefill s"),
    ("decode_latency_s", "decode s"),
    ("total_latency_s", "latency s"),
    ("decode_throughput_tok_s", "decode tok/s"),
    ("total_throughput_tok_s", "throughput tok/s"),
    ("peak_gpu_mem_gb", "peak GPU GB"),
)
MAX_COMMAND_COLUMNS = 7
POINT_METRICS = re.compile(
    r"(co_tenants|gpu_seconds_(held|measured)|usd_\w+|node_(cpu_percent|load_1m)|gpu\d*_energy_j"
    r"|output_tokens_per_j)"
)
"""What the scheduler and the engine actor add to every point (``execution/accounting.py``,
``execution/probe.py``): the report's "Cost and co-tenancy" section shows them, so they never take
the place of the metrics a command wrote."""
KIND_TITLES = {
    "serving": "serving",
    "static_batch": "static batch",
    "flexgen": "FlexGen",
    "command": "command",
}


def trial_kind(engine: str, workload: str) -> str:
    """``serving``, ``static_batch``, ``flexgen`` or ``command`` (any other batch engine)."""
    if engine == "flexgen":
        return "flexgen"
    if engine == "command":
        return "command"
    return "static_batch" if workload == Strategy.STATIC_BATCH else "serving"


def kind_columns(kind: str, metrics: Sequence[Mapping[str, Any]] = ()) -> Columns:
    """The columns of one kind; the command engine's are the numeric metrics its trials wrote."""
    if kind == "flexgen":
        return FLEXGEN_COLUMNS
    if kind == "static_batch":
        return STATIC_BATCH_COLUMNS
    if kind == "command":
        keys = sorted(
            {k for m in metrics for k, v in m.items() if _number(v) and not POINT_METRICS.fullmatch(k)}
        )
        return tuple((k, k) for k in keys[:MAX_COMMAND_COLUMNS])
    return SUMMARY_COLUMNS


def fmt_cell(v: object, ci: Mapping[str, Any] | None = None) -> str:
    """``12.34``, ``12.34 ± 0.56`` with an aggregate's interval over two or more repeats, or ``-``."""
    if not _number(v):
        return "-"
    half = (ci or {}).get("half_width")
    if _number(half) and int((ci or {}).get("n", 0)) >= 2:
        return f"{float(v):.2f} ± {float(half):.2f}"  # type: ignore[arg-type]
    return f"{float(v):.2f}"  # type: ignore[arg-type]


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


Row = tuple[Trial, dict[str, Any] | None, tuple[str, ...]]  # trial, its record, its repeats cell


def print_summary(console: Console, store: ResultsStore, trials: Sequence[Trial]) -> None:
    """One table per kind of trial in the sweep (the first titled ``sweep <id>``); a configuration
    with repeats is one row, its aggregate."""
    per_config = repeats_of(trials)
    by_kind: dict[str, list[Row]] = {}
    shown: set[str] = set()
    for t in trials:
        if t.base_id in shown:
            continue
        shown.add(t.base_id)
        repeats = per_config.get(t.base_id)
        count: tuple[str, ...] = ()
        if repeats:
            done = sum((store.read(x.trial_id) or {}).get("status") == Status.DONE for x in repeats)
            count = (f"{done}/{len(repeats)}",)
        elif per_config:
            count = ("1",)
        record = store.read(t.base_id, aggregate=True) if repeats else store.read(t.trial_id)
        by_kind.setdefault(trial_kind(t.engine.name, t.point.name), []).append((t, record, count))
    for kind, rows in by_kind.items():
        title = f"sweep {store.sweep_id}" + (f" · {KIND_TITLES[kind]}" if len(by_kind) > 1 else "")
        console.print(_table(title, kind, rows, bool(per_config)))


def _table(title: str, kind: str, rows: Sequence[Row], repeats: bool) -> Table:
    done = [r["metrics"] for _, r, _ in rows if r is not None and r["status"] == Status.DONE]
    columns = kind_columns(kind, done)
    table = Table(title=title)
    extra = ("repeats",) if repeats else ()
    for col in ("trial", "tp", "workload", "status", "flags", *extra, *(label for _, label in columns)):
        table.add_column(col)
    for t, r, count in rows:
        if r is None:
            cells = ["-" for _ in columns]
            table.add_row(t.base_id, str(t.tp), t.label, Status.PENDING, "", *count, *cells)
            continue
        status = r["status"] if not r.get("reason") else f"{r['status']}({r['reason']})"
        if r["status"] != Status.DONE:  # a failed trial shows no numbers, never zeros
            cells = ["-" for _ in columns]
        else:
            ci = (r.get("ci") or {}).get("metrics") or {}
            cells = [fmt_cell(r["metrics"].get(key), ci.get(key)) for key, _ in columns]
        flags = flags_text(r.get("flags") or [])
        if flags and r["status"] == Status.DONE:
            status = "DONE*"  # finished, but not a clean DONE: see the flags
        table.add_row(t.base_id, str(t.tp), t.label, status, flags, *count, *cells)
    return table
