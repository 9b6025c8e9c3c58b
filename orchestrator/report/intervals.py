"""Figures with their confidence intervals for the report tables (pure).

A reported trial is a single run or a configuration's aggregate over its repeats
(:meth:`orchestrator.store.reader.SweepData.reported`). For an aggregate, a figure is the mean over
its finished repeats with the half-width of its bootstrap interval (``value ± half-width``, at the
sweep's ``stats.level``, seeded as the aggregate was: the same numbers as its ``result.json``), and
a ratio of two is :func:`workloads.stats.ratio_ci` over their repeats, ``(n.s.)`` when the interval
contains 1. A single run shows the plain value and the plain ratio, as without repeats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from orchestrator.report.render import fmt
from orchestrator.store.reader import TrialData
from workloads.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, Interval, bootstrap_ci, ratio_ci, ratio_text

Figures = Callable[[TrialData], Mapping[str, float]]
K = TypeVar("K", bound=Hashable)  # a report's cell key


def stored(t: TrialData) -> Mapping[str, float]:
    return t.metrics


def _ci(t: TrialData) -> tuple[float, int, int]:
    ci = t.result.get("ci") or {}
    return (
        float(ci.get("level", DEFAULT_LEVEL)),
        int(ci.get("seed", 0)),
        int(ci.get("resamples", DEFAULT_RESAMPLES)),
    )


def samples(t: TrialData, key: str, figures: Figures = stored) -> list[float]:
    """``key`` in each finished repeat of an aggregate (in repeat order); the run's own value else."""
    runs = [m for m in t.members if m.done] if t.is_aggregate else [t]
    values = [figures(m).get(key) for m in runs]
    return [float(v) for v in values if isinstance(v, int | float)]


def interval(t: TrialData, key: str, figures: Figures = stored) -> Interval:
    level, seed, resamples = _ci(t)
    return bootstrap_ci(samples(t, key, figures), level, resamples=resamples, seed=seed)


def value_text(t: TrialData, key: str, figures: Figures = stored, digits: int = 2, unit: str = "") -> str:
    """``12.34 ± 0.56`` (aggregate), ``12.34`` (a single run), ``-`` (none)."""
    iv = interval(t, key, figures) if t.is_aggregate else None
    if iv is None or iv.n < 2:
        return fmt(figures(t).get(key) if iv is None else iv.value, unit, digits)
    return f"{fmt(iv.value, '', digits)} ± {fmt(iv.half_width, unit, digits)}"


def ratio(a: TrialData, b: TrialData, key: str, figures: Figures = stored) -> Interval:
    """mean(a) / mean(b) of ``key`` with its interval over their repeats."""
    level, seed, resamples = _ci(a if a.is_aggregate else b)
    return ratio_ci(samples(a, key, figures), samples(b, key, figures), level, resamples=resamples, seed=seed)


def ratio_cell(a: TrialData, b: TrialData, key: str, figures: Figures = stored, digits: int = 3) -> str:
    """``1.234`` (single runs), ``1.234 ± 0.056`` or ``1.012 ± 0.030 (n.s.)`` (repeats), ``-`` (none)."""
    return ratio_text(ratio(a, b, key, figures), f".{digits}f")


def note(trials: Sequence[TrialData]) -> str:
    """The line under a table of aggregates ('' when none is one)."""
    agg = next((t for t in trials if t.is_aggregate), None)
    if agg is None:
        return ""
    n = max(len(t.members) for t in trials if t.is_aggregate)
    return (f"value ± half-width of the {_ci(agg)[0]:.0%} bootstrap interval over up to {n} repeats; "
            "a ratio marked (n.s.) is not significantly different from 1 at that level.")  # fmt: skip


def best(cells: Mapping[K, TrialData], key: str) -> float | None:
    """The largest ``key`` of the finished trials in ``cells`` (None: none has it)."""
    values = [v for t in cells.values() if t.done and (v := t.metrics.get(key))]
    return max(values) if values else None


def geomean_ratio(a: Mapping[K, TrialData], b: Mapping[K, TrialData], key: str) -> float | None:
    """The geometric mean over the cells both finished of a / b ``key`` (None: no such cell)."""
    logs = []
    for cell in set(a) & set(b):
        ta, tb = a[cell], b[cell]
        va, vb = ta.metrics.get(key), tb.metrics.get(key)
        if ta.done and tb.done and va and vb:
            logs.append(math.log(va / vb))
    return math.exp(sum(logs) / len(logs)) if logs else None
