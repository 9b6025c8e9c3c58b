"""Parallelism planner (seed 002): heterogeneous (TP, CP) groups vs WLB-LLM homogeneous layouts.

Modules: ``model`` (latency of a group), ``calibration`` (fit from measured points), ``plan``
(assignments and checks), ``search`` (exact DP / heuristic planner), ``wlb`` (baselines),
``compare`` (one batch, ours vs baselines), ``render`` (seed format, Markdown, JSON), ``cli``.
This package imports nothing heavy at import time: ``config`` is imported by the config schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.config.schema import ExperimentConfig


def run(cfg: ExperimentConfig, console: Console) -> int:
    """``kind: planner``: plan every batch, print the seed-format comparison, write the report."""
    from orchestrator.planner.cli import run_planner

    return run_planner(cfg, console)
