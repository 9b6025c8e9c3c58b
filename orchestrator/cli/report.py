"""``python -m orchestrator.report <sweep_dir | results_dir sweep_id> [--no-mlflow]
[--percentiles {linear,tgi_benchmark}]``.

``--percentiles`` overrides the sweep's ``report.percentiles`` (default ``linear``; see
:mod:`workloads.percentiles`).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

from orchestrator.core.errors import ConfigError
from orchestrator.core.percentile_rules import RULE_NAMES, parse_rule
from orchestrator.report.build import report
from orchestrator.store.reader import load_sweep, resolve_sweep_dir

USAGE = (
    "usage: python -m orchestrator.report <sweep_dir | results_dir sweep_id> [--no-mlflow] "
    f"[--percentiles {{{','.join(RULE_NAMES)}}}]"
)


def _take_percentiles(args: list[str]) -> tuple[list[str], str | None]:
    """``args`` without ``--percentiles X`` / ``--percentiles=X``, and X (checked: ConfigError)."""
    rest: list[str] = []
    value: str | None = None
    it = iter(args)
    for a in it:
        if a == "--percentiles":
            value = next(it, "")
        elif a.startswith("--percentiles="):
            value = a.split("=", 1)[1]
        else:
            rest.append(a)
    if value is not None:
        try:
            parse_rule(value)
        except ValueError:
            raise ConfigError("--percentiles", f"unknown value '{value}'", RULE_NAMES) from None
    return rest, value


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    if "-h" in args or "--help" in args:
        console.print(USAGE, markup=False)
        return 0
    mlflow = "--no-mlflow" not in args
    args = [a for a in args if a != "--no-mlflow"]
    err = Console(stderr=True, soft_wrap=True)
    try:
        args, percentiles = _take_percentiles(args)
        sweep_dir = resolve_sweep_dir(args)
    except (ValueError, ConfigError) as exc:
        err.print(f"[bold red]error[/] {escape(str(exc))}\n{escape(USAGE)}", highlight=False)
        return 2
    sweep = load_sweep(sweep_dir)
    if not sweep.trials:
        err.print(f"[bold red]error[/] no finished trials under {sweep_dir}/trials", highlight=False)
        return 1
    try:
        report(sweep, console, mlflow=mlflow, percentiles=percentiles)
    except ValueError as exc:  # the sweep's own report.percentiles is unknown
        err.print(f"[bold red]error[/] report.percentiles: {escape(str(exc))}", highlight=False)
        return 2
    return 0
