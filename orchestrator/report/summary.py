"""Terminal output: the summary table of a sweep, read from the results store.

With repeats, one row per configuration from its aggregate: each figure is ``mean ± half-width``
of its bootstrap interval (``stats.level``) and ``repeats`` says how many finished.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.core.validity import flags_text
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.repeats import repeats_of

SUMMARY_COLUMNS = (
    ("ttft_p50_ms", "TTFT p50 ms"),
    ("ttft_p99_ms", "TTFT p99 ms"),
    ("tpot_p50_ms", "TPOT p50 ms"),
    ("itl_p99_ms", "ITL p99 ms"),
    ("e2e_p50_ms", "E2E p50 ms"),
    ("request_throughput", "req/s"),
    ("output_token_throughput", "out tok/s"),
)


def _fmt(v: object, ci: Mapping[str, Any] | None = None) -> str:
    if isinstance(v, int | float) and not math.isnan(float(v)):
        half = (ci or {}).get("half_width")
        if isinstance(half, int | float) and math.isfinite(half) and int((ci or {}).get("n", 0)) >= 2:
            return f"{float(v):.2f} ± {float(half):.2f}"
        return f"{float(v):.2f}"
    return "-"


def print_summary(console: Console, store: ResultsStore, trials: Sequence[Trial]) -> None:
    table = Table(title=f"sweep {store.sweep_id}")
    per_config = repeats_of(trials)
    extra = ("repeats",) if per_config else ()
    for col in ("trial", "tp", "workload", "status", "flags", *extra, *(lbl for _, lbl in SUMMARY_COLUMNS)):
        table.add_column(col)
    shown: set[str] = set()
    for t in trials:
        if t.base_id in shown:
            continue
        shown.add(t.base_id)
        repeats = per_config.get(t.base_id)
        r = store.read(t.base_id, aggregate=True) if repeats else store.read(t.trial_id)
        count: tuple[str, ...] = ()
        if repeats:
            done = sum((store.read(x.trial_id) or {}).get("status") == Status.DONE for x in repeats)
            count = (f"{done}/{len(repeats)}",)
        elif per_config:
            count = ("1",)
        if r is None:
            cells = ["-" for _ in SUMMARY_COLUMNS]
            table.add_row(t.base_id, str(t.tp), t.label, Status.PENDING, "", *count, *cells)
            continue
        status = r["status"] if not r.get("reason") else f"{r['status']}({r['reason']})"
        if r["status"] != "DONE":  # a failed trial shows no numbers, never zeros
            cells = ["-" for _ in SUMMARY_COLUMNS]
        else:
            ci = (r.get("ci") or {}).get("metrics") or {}
            cells = [_fmt(r["metrics"].get(key), ci.get(key)) for key, _ in SUMMARY_COLUMNS]
        flags = flags_text(r.get("flags") or [])
        if flags and r["status"] == "DONE":
            status = "DONE*"  # finished, but not a clean DONE: see the flags
        table.add_row(t.base_id, str(t.tp), t.label, status, flags, *count, *cells)
    console.print(table)
