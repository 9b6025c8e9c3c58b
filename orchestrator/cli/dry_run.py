"""``--dry-run``'s output: the trials with their placement, and each engine instance's launch command."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.trial import Trial
from orchestrator.sweep.grid import expand
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
        table.add_row(t.trial_id, t.engine.name, str(t.tp), bundles, plan.strategy, t.label)
    console.print(table)


def print_launch_commands(console: Console, configs: list[ExperimentConfig]) -> None:
    """Each engine instance's command line (secrets redacted; ports and paths as placeholders)."""
    console.print("launch commands (ports, side channels, GPUs and scratch dirs are chosen on the node):",
                  highlight=False)  # fmt: skip
    for c in configs:
        for label, line in launch_commands(c, expand(c)):
            console.print(f"  {label}:\n    {line}", markup=False, highlight=False, soft_wrap=True)
