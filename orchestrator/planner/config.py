"""Typed config of the planner experiment (``kind: planner``) and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.core.errors import ConfigError

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


def validate_planner(p: PlannerConfig) -> None:
    """Raise ConfigError naming ``planner.<field>`` for the first bad value."""
    if not p.batches:
        raise ConfigError("planner.batches", "must list at least one batch")
    for name, sizes in (("planner.tp_sizes", p.tp_sizes), ("planner.cp_sizes", p.cp_sizes)):
        if not sizes:
            raise ConfigError(name, "must list at least one size")
        for s in sizes:
            if s <= 0:
                raise ConfigError(name, f"sizes must be > 0, got {s}")
        if 1 not in sizes:
            raise ConfigError(name, "must include 1 (a one-GPU group is always possible)")
    if p.search not in SEARCHES:
        raise ConfigError("planner.search", f"unknown value '{p.search}'", SEARCHES)
    if p.exact_max_work <= 0:
        raise ConfigError("planner.exact_max_work", f"must be > 0, got {p.exact_max_work}")
    if p.calibration_path is not None and not p.calibration_path.strip():
        raise ConfigError("planner.calibration_path", "must be a file path or null (the default table)")
    for i, b in enumerate(p.batches):
        prefix = f"planner.batches[{i}]"
        if b.gpus <= 0:
            raise ConfigError(f"{prefix}.gpus", f"must be > 0, got {b.gpus}")
        if not b.sequences:
            raise ConfigError(f"{prefix}.sequences", "must list at least one sequence")
        for j, r in enumerate(b.sequences):
            if r.length <= 0:
                raise ConfigError(f"{prefix}.sequences[{j}].length", f"must be > 0, got {r.length}")
            if r.count <= 0:
                raise ConfigError(f"{prefix}.sequences[{j}].count", f"must be > 0, got {r.count}")
