"""``--dry-run``'s output: the trials with their placement, and each engine instance's launch command."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.trial import Trial
from orchestrator.search.space import Candidate
from orchestrator.search.trials import fidelity, round_point, trial_of
from orchestrator.sweep.launch_preview import launch_commands
from orchestrator.sweep.placement import NodeSpec, instance_plan, planned_nodes


def print_plan(
    console: Console, cfg: ExperimentConfig, trials: Sequence[Trial], nodes: Sequence[NodeSpec] | None = None
) -> None:
    """The trials and their placement on ``nodes`` (default: the local cluster ``resources`` plans)."""
    nodes = planned_nodes(cfg.resources) if nodes is None else nodes
    table = Table(title=f"{cfg.name}: {len(trials)} trial(s) (dry run: nothing started)")
    for col in ("trial", "engine", "tp", "bundles", "strategy", "workload"):
        table.add_column(col)
    for t in trials:
        plan = instance_plan(t.engine, cfg.resources.device, t.tp, nodes)
        bundles = ", ".join(f"{{GPU: {b['GPU']:g}, CPU: {b['CPU']:g}}}" for b in plan.bundles)
        label = t.label if t.repeat is None else f"{t.label} (repeat {t.repeat})"
        table.add_row(t.trial_id, t.engine.name, str(t.tp), bundles, plan.strategy, label)
    console.print(table)


def print_launch_commands(console: Console, runs: Sequence[tuple[ExperimentConfig, Sequence[Trial]]]) -> None:
    """Each engine instance's command line, per (config, its trials) (secrets redacted; ports and
    paths as placeholders)."""
    console.print("launch commands (ports, side channels, GPUs and scratch dirs are chosen on the node):",
                  highlight=False)  # fmt: skip
    for cfg, trials in runs:
        for label, line in launch_commands(cfg, trials):
            console.print(f"  {label}:\n    {line}", markup=False, highlight=False, soft_wrap=True)


def print_search_plan(
    console: Console, cfg: ExperimentConfig, candidates: Sequence[Candidate], nodes: Sequence[NodeSpec]
) -> None:
    """The search's candidates and rounds, round 0's trials with their placement, and each
    candidate's launch command."""
    s = cfg.search
    table = Table(title=f"{cfg.name}: search of {len(candidates)} candidate(s) (dry run: nothing started)")
    for col in ("candidate", "id", "GPUs per replica"):
        table.add_column(col)
    for c in candidates:
        table.add_row(c.label, c.cid, str(c.tp))
    console.print(table)
    rounds = "; ".join(
        f"round {r}: {req} requests per probe, up to {it} bisection step(s)"
        for r, (req, it) in ((r, fidelity(cfg, r)) for r in range(s.rounds))
    )
    budget = "no budget" if s.budget_gpu_hours is None else f"budget {s.budget_gpu_hours:g} GPU-hours"
    console.print(f"{s.rounds} round(s), keep the best 1/{s.eta} each; {rounds}; objective {s.objective}, "
                  f"{budget}", highlight=False)  # fmt: skip
    trials = [trial_of(c, round_point(cfg, 0)) for c in candidates]
    print_plan(console, cfg, trials, nodes)
    print_launch_commands(console, [(cfg, trials)])
