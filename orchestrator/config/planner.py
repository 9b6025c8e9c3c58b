"""Typed config of the planner experiment (``kind: planner``): plain dataclasses (the config schema's
``planner`` group); :func:`orchestrator.config.validate.validate_planner` checks it."""

from __future__ import annotations

from dataclasses import dataclass, field

SEARCHES = ("auto", "exact", "heuristic")


@dataclass
class SequenceRun:
    """``count`` sequences of ``length`` tokens."""

    length: int = 1024
    count: int = 1


@dataclass
class BatchConfig:
    """One batch to plan: its sequences and the GPU budget for it."""

    name: str = ""
    gpus: int = 16
    sequences: list[SequenceRun] = field(default_factory=list)

    def lengths(self) -> list[int]:
        return [r.length for r in self.sequences for _ in range(r.count)]

    def label(self) -> str:
        """E.g. ``[32K] + [1K] * 32``, the seed's notation."""
        parts = [f"[{_k(r.length)}]" + (f" * {r.count}" if r.count > 1 else "") for r in self.sequences]
        return " + ".join(parts)


def _k(tokens: int) -> str:
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else str(tokens)


@dataclass
class PlannerConfig:
    """Heterogeneous (TP, CP) planner vs WLB-LLM homogeneous layouts (seed 002).

    ``calibration_path``: a YAML table of measured (seq_len, tp, cp) → latency_ms points; null uses
    the shipped ``conf/calibration/planner_default.yaml``. ``search``: ``exact`` (DP, exact min-max),
    ``heuristic`` (greedy bisection), or ``auto`` (exact while its work ≤ ``exact_max_work``).
    """

    batches: list[BatchConfig] = field(default_factory=list)
    calibration_path: str | None = None
    tp_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    cp_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    search: str = "auto"
    exact_max_work: int = 200_000
