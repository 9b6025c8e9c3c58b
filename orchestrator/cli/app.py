"""The command line flow: compose → validate → expand → (dry run | cluster → schedule → record)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from engines.registry import registry
from orchestrator.cli.dry_run import print_launch_commands, print_plan, print_search_plan
from orchestrator.cli.search import run_search
from orchestrator.cli.sweep import run_sweep
from orchestrator.config.schema import ExperimentConfig
from orchestrator.config.store import load_experiment
from orchestrator.core.errors import ConfigError, OrchestratorError
from orchestrator.search.space import check as check_search
from orchestrator.sweep.grid import expand
from orchestrator.sweep.multi_engine import engine_configs
from orchestrator.sweep.placement import planned_nodes
from orchestrator.sweep.repeats import with_repeats

USAGE = """usage: python -m orchestrator [+exp=<preset>] [key=value ...] [--dry-run] [--verbose]

Hydra overrides, e.g.  +exp=tgi_tp_sweep engine.tp=[2,4] workload.concurrency=[1,8]
  --dry-run   validate, print the trial list, placement plan and each engine instance's
              launch command (ports and paths as placeholders), start nothing
  --cfg       print the composed config and exit
  --verbose   show Ray's own banners, warnings and the workers' output
SLO search (docs/search.md):  +exp=smoke_search, or search=slo ++search.space={engine.max_num_seqs:[64,128]}
"""
FLAGS = ("--cfg", "--dry-run", "--verbose")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    if "-h" in args or "--help" in args:
        console.print(USAGE, markup=False)
        return 0
    show_cfg = "--cfg" in args
    dry_run = "--dry-run" in args
    overrides = [a for a in args if a not in FLAGS]
    try:
        cfg = load_experiment(overrides)
        cfg.dry_run = cfg.dry_run or dry_run
        nodes = planned_nodes(cfg.resources) if not cfg.ray.address else _any_nodes()
        configs = engine_configs(cfg, overrides, registry().keys(), nodes)  # validated; one per engine
        trials = [] if cfg.kind == "planner" else [t for c in configs for t in expand(c)]
        trials = with_repeats(trials, cfg.repeats, cfg.stats.seed)  # every engine's, interleaved
        candidates = check_search(configs, nodes) if cfg.search.enabled else []
    except ConfigError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]config error[/] {exc}", highlight=False)
        return exc.exit_code
    if show_cfg:
        from omegaconf import OmegaConf

        console.print(OmegaConf.to_yaml(OmegaConf.structured(cfg)), markup=False)
        return 0
    if cfg.kind == "planner":  # pure computation: no Ray, no engines, no MLflow server
        return _run_planner(cfg, console)
    if cfg.search.enabled:
        if cfg.dry_run:
            print_search_plan(console, cfg, candidates, nodes)
            return 0
        return _guarded(lambda: run_search(cfg, candidates, console, verbose="--verbose" in args))
    if cfg.dry_run:
        print_plan(console, cfg, trials, nodes)  # with ray.address: the cluster is not known yet
        print_launch_commands(console, [(c, expand(c)) for c in configs])
        return 0
    return _guarded(lambda: run_sweep(cfg, trials, console, verbose="--verbose" in args))


def _guarded(run: Callable[[], int]) -> int:
    """A run's exit code; an error it raises on purpose printed, with its own exit code."""
    try:
        return run()
    except OrchestratorError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error[/] {exc}", highlight=False)
        return exc.exit_code


def _run_planner(cfg: ExperimentConfig, console: Console) -> int:
    from orchestrator.planner import run

    try:
        return run(cfg, console)
    except OrchestratorError as exc:
        label = "config error" if isinstance(exc, ConfigError) else "error"
        Console(stderr=True, soft_wrap=True).print(f"[bold red]{label}[/] {exc}", highlight=False)
        return exc.exit_code


def _any_nodes() -> list[Any]:
    """With ``ray.address`` the real nodes are checked after connecting; accept any TP before."""
    from orchestrator.sweep.placement import NodeSpec

    return [NodeSpec(16, 1 << 16)]
