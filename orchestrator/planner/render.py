"""The seed's "Ours vs WLB-LLM" format as text lines, a Markdown report and a JSON document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.planner.calibration import Calibration
from orchestrator.planner.compare import BatchComparison, Scored, geometric_mean


def _ms(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".")


def lengths_text(lengths: Sequence[int]) -> str:
    """A group's lengths, runs of equal lengths compacted: ``[32768, 1024 x11]``."""
    runs: list[list[int]] = []
    for s in lengths:
        if runs and runs[-1][0] == s:
            runs[-1][1] += 1
        else:
            runs.append([s, 1])
    return "[" + ", ".join(str(s) if n == 1 else f"{s} x{n}" for s, n in runs) + "]"


def _total(lengths: Sequence[int]) -> str:
    tokens = sum(lengths)
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else f"{tokens} tokens"


def baseline_lines(s: Scored, budget: int) -> list[str]:
    groups = ", ".join(lengths_text(g.lengths) for g in s.plan.groups if g.lengths)
    used = f", actually used {s.plan.used_gpus} GPU" if s.plan.used_gpus < budget else ""
    return [f"{s.plan.label}: ({budget} GPU{used})", f"([{groups}], {_ms(s.latency)})"]


def ours_lines(c: BatchComparison) -> list[str]:
    o = c.ours
    groups = ", ".join(f"({lengths_text(g.lengths)}, {g.tp}, {g.cp})" for g in o.plan.groups)
    per_group = " | ".join(_ms(v) for v in o.group_latencies)
    return [
        f"Ours: ({c.budget} GPU, used {o.plan.used_gpus}; {c.method} search)",
        f"[{groups}]",
        f"max latency: {_ms(o.latency)} ms  (groups: {per_group} ms)",
    ]


def batch_lines(c: BatchComparison) -> list[str]:
    lines = [f"## batch ({_total(c.lengths)} total) = {c.label}, {c.budget} GPUs", ""]
    for s in c.baselines:
        lines += [*baseline_lines(s, c.budget), ""]
    lines += ours_lines(c)
    best = c.best_baseline
    lines += [
        f"best baseline {best.plan.label}: {_ms(best.latency)} ms; ours: {_ms(c.ours.latency)} ms; "
        f"ratio best-baseline / ours = {c.ratio:.4f}",
        "",
    ]
    return lines


def header_lines(cal: Calibration) -> list[str]:
    coefs = ", ".join(f"{k}={v:.4g}" for k, v in cal.model.as_dict().items())
    return [
        "# Results: Ours vs WLB-LLM",
        "",
        f"latency model fitted to {len(cal.points)} points of {cal.source}",
        f"  coefficients (ms, kilo-tokens): {coefs}",
        f"  max relative error on its table: {cal.max_relative_error():.2%}",
        "",
    ]


def summary_rows(results: Sequence[BatchComparison]) -> list[list[str]]:
    rows = []
    for c in results:
        best = c.best_baseline
        rows.append(
            [
                c.label,
                str(c.budget),
                best.plan.label,
                _ms(best.latency),
                _ms(c.ours.latency),
                str(c.ours.plan.used_gpus),
                f"{c.ratio:.4f}",
            ]
        )
    return rows


SUMMARY_HEADER = ["batch", "GPUs", "best baseline", "baseline ms", "ours ms", "ours GPUs used", "ratio"]


def markdown(cal: Calibration, results: Sequence[BatchComparison]) -> str:
    out = header_lines(cal)
    for c in results:
        block = batch_lines(c)
        out += [block[0], "", "```", *block[2:-1], "```", ""]
    out += ["## Summary", "", "| " + " | ".join(SUMMARY_HEADER) + " |"]
    out += ["|" + "---|" * len(SUMMARY_HEADER)]
    out += ["| " + " | ".join(r) + " |" for r in summary_rows(results)]
    ratio = geometric_mean([c.ratio for c in results])
    out += ["", f"ratio best-baseline / ours, geometric mean over {len(results)} batch(es): {ratio:.4f}", ""]
    return "\n".join(out)


def _plan_doc(s: Scored) -> dict[str, Any]:
    groups = [g for g in s.plan.groups if g.lengths]
    return {
        "label": s.plan.label,
        "reserved_gpus": s.plan.reserved_gpus,
        "used_gpus": s.plan.used_gpus,
        "max_latency_ms": s.latency,
        "groups": [
            {"tp": g.tp, "cp": g.cp, "lengths": list(g.lengths), "latency_ms": lat}
            for g, lat in zip(groups, s.group_latencies, strict=True)
        ],
    }


def document(cal: Calibration, results: Sequence[BatchComparison]) -> dict[str, Any]:
    """Everything needed to re-render the report without re-running the planner."""
    return {
        "kind": "planner_vs_wlb",
        "calibration": {
            "source": cal.source,
            "coefficients": cal.model.as_dict(),
            "max_relative_error": cal.max_relative_error(),
            "points": [vars(p) for p in cal.points],
        },
        "batches": [
            {
                "name": c.name,
                "label": c.label,
                "gpus": c.budget,
                "lengths": list(c.lengths),
                "baselines": [_plan_doc(s) for s in c.baselines],
                "ours": {**_plan_doc(c.ours), "method": c.method},
                "best_baseline": c.best_baseline.plan.label,
                "ratio": c.ratio,
            }
            for c in results
        ],
        "ratio_geomean": geometric_mean([c.ratio for c in results]),
    }
