"""Terminal output: the summary table of a sweep, read from the results store."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import flags_text
from orchestrator.store.results import ResultsStore

SUMMARY_COLUMNS = (
    ("ttft_p50_ms", "TTFT p50 ms"),
    ("ttft_p99_ms", "TTFT p99 ms"),
    ("tpot_p50_ms", "TPOT p50 ms"),
    ("itl_p99_ms", "ITL p99 ms"),
    ("e2e_p50_ms", "E2E p50 ms"),
    ("request_throughput", "req/s"),
    ("output_token_throughput", "out tok/s"),
)


def _fmt(v: object) -> str:
    if isinstance(v, int | float) and not math.isnan(float(v)):
        return f"{float(v):.2f}"
    return "-"


def print_summary(console: Console, store: ResultsStore, trials: Sequence[Trial]) -> None:
    table = Table(title=f"sweep {store.sweep_id}")
    for col in ("trial", "tp", "workload", "status", "flags", *(label for _, label in SUMMARY_COLUMNS)):
        table.add_column(col)
    for t in trials:
        r = store.read(t.trial_id)
        if r is None:
            table.add_row(t.trial_id, str(t.tp), t.label, Status.PENDING, "", *("-" for _ in SUMMARY_COLUMNS))
            continue
        status = r["status"] if not r.get("reason") else f"{r['status']}({r['reason']})"
        if r["status"] != "DONE":  # a failed trial shows no numbers, never zeros
            cells = ["-" for _ in SUMMARY_COLUMNS]
        else:
            cells = [_fmt(r["metrics"].get(key)) for key, _ in SUMMARY_COLUMNS]
        flags = flags_text(r.get("flags") or [])
        if flags and r["status"] == "DONE":
            status = "DONE*"  # finished, but not a clean DONE: see the flags
        table.add_row(t.trial_id, str(t.tp), t.label, status, flags, *cells)
    console.print(table)
