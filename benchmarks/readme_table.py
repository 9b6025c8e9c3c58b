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
    """One row per tool (max req/s per round under the one rule), then the ratio line and the setup."""
    lines = [
        "| tool | version | max req/s per round (p50 < 1 ms, p99 < 10 ms) | mean | TTFT error p50 (ms) "
        "| server-stalled requests | note |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for e in report["tools"]:
        note = str(e.get("error") or "")[:120].replace("|", "/").replace("\n", " ")
        by_round = e.get("max_rps_by_round") or []
        mean = round(sum(by_round) / len(by_round), 1) if by_round else None
        cells = [", ".join(f"{x:g}" for x in by_round) or None, mean, e.get("ttft_error_p50_ms"),
                 e.get("server_stalled_requests")]  # fmt: skip
        lines.append(
            f"| {e['tool']} | {_cell(e.get('version'))} | " + " | ".join(map(_cell, cells)) + f" | {note} |"
        )
    setup = report["setup"]
    ci = report.get("ratio_ci")
    sig = "" if report.get("ratio_significant") else ", not significant"
    level = report.get("ratio_level", 0.95)
    lines += [
        "",
        f"`ratio_vs_best_peer` = **{_cell(report['ratio_vs_best_peer'])}** "
        f"({level:.0%} CI {ci}{sig}; vs {report.get('best_peer')}; {report['ratio_basis']}). "
        f"Load average before/after: {setup['load_avg_before']} / {setup['load_avg_after']}; "
        f"{setup['machine']}; {setup.get('note', '')}".rstrip("; "),
    ]
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(table(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
