"""The search's result: a table of every candidate, the Pareto frontier of goodput per GPU against
interactivity (a plot), the chosen configuration with its margin to each SLO, and the one plain
line the run ends with.

Written under ``<sweep_dir>/report/`` (``report.md``, ``pareto.png``, ``report.html`` and
``search.json`` for scripts) and logged on the search's MLflow parent run. The table shows each
candidate's highest round measured: the rate and goodput are that round's (short rounds are
noisier; the last round is the full measurement).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.config.search import Objective
from orchestrator.report.render import Section, Table, new_figure, write_report
from orchestrator.search.measure import Measurement
from orchestrator.search.policy import Choice, Plan, Rules, Verdict
from orchestrator.search.space import Candidate
from orchestrator.search.trials import SLO_FIELDS

HEADERS = ["candidate", "GPUs", "round", "max SLO rate req/s", "goodput tok/s", "tok/s/GPU",
           "tok/GPU-h", "tok/s/user", "start-up s", "GPU-h spent", "status"]  # fmt: skip
SLO_NAMES = {key: name.removesuffix("_ms") for name, key in SLO_FIELDS.items()}  # ttft_ms → ttft_p99


def _f(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _named(text: str, by_id: Mapping[str, Candidate]) -> str:
    """``text`` with candidate ids replaced by their labels."""
    for cid, c in by_id.items():
        text = text.replace(cid, c.label)
    return text


def pareto(points: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points (x, y, name) no other point beats on both x and y (higher is better), by x."""
    front = [p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q[:2] != p[:2] for q in points)]
    return sorted(front)


def status_text(cid: str, plan: Plan, choice: Choice | None) -> str:
    if choice is not None and choice.measurement.cid == cid:
        return "chosen"
    verdict = plan.verdicts.get(cid, Verdict.PENDING)
    m = plan.latest.get(cid)
    if verdict == Verdict.FAILED and m is not None:
        return f"failed ({m.reason})"
    return str(verdict)


def rows(
    candidates: Sequence[Candidate],
    plan: Plan,
    rules: Rules,
    choice: Choice | None,
    spent: Mapping[str, float],
) -> list[list[str]]:
    """One row per candidate, config order (``spent``: candidate id → GPU-seconds of its trials)."""
    out = []
    for c in candidates:
        m = plan.latest.get(c.cid)
        ok = m is not None and m.ok
        out.append([
            c.label, str(c.tp), "—" if m is None else str(m.round),
            _f(m.rate, 2) if ok and m else "—", _f(m.goodput) if ok and m else "—",
            _f(m.goodput_per_gpu) if ok and m else "—",
            _f(m.per_gpu_hour(m.goodput_per_gpu, rules.lifetime_s), 0) if ok and m else "—",
            _f(m.interactivity) if ok and m else "—",
            _f(m.startup_s) if m else "—", _f(spent.get(c.cid, 0.0) / 3600, 4),
            status_text(c.cid, plan, choice),
        ])  # fmt: skip
    return out


def margin_text(choice: Choice) -> str:
    """``ttft_p99 500 ms: 212 ms, margin 58%; tpot_p99 50 ms: 21 ms, margin 58%``."""
    parts = []
    for m in choice.margins:
        name = SLO_NAMES.get(m.key, m.key)
        if m.p99_ms is None or m.fraction is None:
            parts.append(f"{name} {m.limit_ms:g} ms: undefined, met")
        else:
            parts.append(f"{name} {m.limit_ms:g} ms: {m.p99_ms:.0f} ms, margin {m.fraction:.0%}")
    return "; ".join(parts)


def chosen_line(
    choice: Choice | None, candidates: Mapping[str, Candidate], rules: Rules, slo: Mapping[str, float]
) -> str:
    """The run's last line: the chosen configuration and its score, or that none met the SLO."""
    if choice is None:
        limits = ", ".join(f"{SLO_NAMES.get(k, k)} <= {v:g} ms" for k, v in slo.items())
        return f"chosen: none — no configuration met the SLO ({limits})"
    m = choice.measurement
    score = f"goodput {m.goodput_per_gpu:.1f} tok/s/GPU"
    if rules.objective == Objective.GOODPUT_PER_GPU_HOUR:
        score = (
            f"goodput {choice.score:,.0f} tok/GPU-hour ({m.goodput_per_gpu:.1f} tok/s/GPU, "
            f"start-up {m.startup_s or 0:.0f} s)"
        )
    rate = m.rate or 0.0
    return f"chosen: {candidates[m.cid].label} — {score} at {rate:.2f} req/s (SLO {margin_text(choice)})"


def figure(points: Sequence[tuple[float, float, str]], chosen: str | None) -> Any:
    """Goodput per GPU against interactivity: every candidate that met the SLO, the frontier, the choice."""
    fig, ax = new_figure()
    front = pareto(points)
    ax.scatter([p[0] for p in points], [p[1] for p in points], color="0.6", label="candidates")
    ax.plot(
        [p[0] for p in front],
        [p[1] for p in front],
        "o-",
        color="C0",
        drawstyle="steps-pre",
        label="Pareto frontier",
    )
    for x, y, name in points:
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if name == chosen:
            ax.scatter([x], [y], marker="*", s=220, color="C3", zorder=3, label="chosen")
    ax.set_xlabel("interactivity: output tok/s per user (1000 / median TPOT ms)")
    ax.set_ylabel("goodput: output tok/s per GPU at the highest SLO rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def candidate_summary(
    c: Candidate, plan: Plan, rules: Rules, choice: Choice | None, spent: Mapping[str, float]
) -> dict[str, Any]:
    """One candidate's row of ``search.json`` (numbers, not text)."""
    m = plan.latest.get(c.cid)
    out: dict[str, Any] = {
        "id": c.cid, "label": c.label, "tp": c.tp, "status": status_text(c.cid, plan, choice),
        "why": plan.why.get(c.cid, ""), "gpu_hours": spent.get(c.cid, 0.0) / 3600,
    }  # fmt: skip
    if m is not None:
        out.update(round=m.round, trial_id=m.trial_id, startup_s=m.startup_s)
    if m is not None and m.ok:
        out.update(
            rate=m.rate, rate_upper=m.rate_upper, goodput=m.goodput, goodput_per_gpu=m.goodput_per_gpu,
            goodput_per_gpu_hour=m.per_gpu_hour(m.goodput_per_gpu, rules.lifetime_s),
            interactivity=m.interactivity, p99_ms=m.p99_ms,
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class SearchReport:
    line: str
    table: Table
    files: list[Path]
    summary: dict[str, Any]


def build(
    report_dir: Path,
    title: str,
    candidates: Sequence[Candidate],
    plan: Plan,
    rules: Rules,
    choice: Choice | None,
    slo: Mapping[str, float],
    spent: Mapping[str, float],
) -> SearchReport:
    """Write the report and return its table, files and the last line."""
    by_id = {c.cid: c for c in candidates}
    line = chosen_line(choice, by_id, rules, slo)
    table = Table("Candidates", HEADERS, rows(candidates, plan, rules, choice, spent))
    table.note = (
        "goodput: output tok/s at the highest probed rate whose p99s met the SLO (not the trials' "
        "goodput metric, which counts requests/s); per GPU: / TP; tok/GPU-h: "
        f"per GPU-hour of a replica serving {rules.lifetime_s:g} s after its start-up; tok/s/user: 1000 / "
        "median TPOT. Rounds are numbered from 0; the last is the full measurement."
    )
    ok: list[Measurement] = [m for m in plan.latest.values() if m.ok and m.interactivity is not None]
    points = [(float(m.interactivity or 0.0), m.goodput_per_gpu, by_id[m.cid].slug) for m in ok]
    chosen = by_id[choice.measurement.cid].slug if choice else None
    notes = [line, *(f"{by_id[c].label}: {_named(why, by_id)}" for c, why in plan.why.items() if c in by_id)]
    sections = [Section("Search", [table], notes=notes)]
    if points:
        sections.append(Section("Pareto frontier", figures={"pareto.png": figure(points, chosen)}))
    files = write_report(report_dir, title, sections)
    summary = {
        "chosen": None if choice is None else {
            "candidate": choice.measurement.cid, "label": by_id[choice.measurement.cid].label,
            "score": choice.score, "objective": str(rules.objective), "rate": choice.measurement.rate,
            "goodput_per_gpu": choice.measurement.goodput_per_gpu, "round": choice.measurement.round,
            "margins": {m.key: m.fraction for m in choice.margins},
        },
        "line": line,
        "candidates": [candidate_summary(c, plan, rules, choice, spent) for c in candidates],
        "pareto": [name for _, _, name in pareto(points)],
    }  # fmt: skip
    (report_dir / "search.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return SearchReport(line, table, [*files, report_dir / "search.json"], summary)
