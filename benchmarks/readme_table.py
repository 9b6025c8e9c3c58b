"""Markdown table of ``benchmarks/results/client_vs_peers.json`` for the README.

``python -m benchmarks.readme_table [path]`` prints the table; paste it under "Load generator vs peers".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.client_vs_peers import RESULTS


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


def table(report: dict[str, Any]) -> str:
    """One row per tool, then the ratio line and the setup (load, date-free)."""
    lines = [
        "| tool | version | max req/s, send delay p99 < 1 ms | kept up: p50 < 1 ms, p99 < 10 ms "
        "| p50 < 1 ms | TTFT error p50 (ms) | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in report["tools"]:
        note = str(e.get("error") or e.get("stopped") or "")[:120].replace("|", "/").replace("\n", " ")
        keys = ("max_sustained_rps", "max_keeping_up_rps", "max_median_on_time_rps", "ttft_error_p50_ms")
        cells = [e.get(k) for k in keys]
        lines.append(
            f"| {e['tool']} | {_cell(e.get('version'))} | " + " | ".join(map(_cell, cells)) + f" | {note} |"
        )
    setup = report["setup"]
    lines += [
        "",
        f"`ratio_vs_best_peer` = **{_cell(report['ratio_vs_best_peer'])}** ({report['ratio_basis']}). "
        f"Load average before/after: {setup['load_avg_before']} / {setup['load_avg_after']}; "
        f"{setup['machine']}; {setup.get('note', '')}".rstrip("; "),
    ]
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(table(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
