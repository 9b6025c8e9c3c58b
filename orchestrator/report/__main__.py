"""``python -m orchestrator.report <sweep_dir | results_dir sweep_id> [--no-mlflow]``."""

from __future__ import annotations

import sys

from rich.console import Console

from orchestrator.report.build import report
from orchestrator.report.load import load_sweep, resolve_sweep_dir

USAGE = "usage: python -m orchestrator.report <sweep_dir | results_dir sweep_id> [--no-mlflow]"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    if "-h" in args or "--help" in args:
        console.print(USAGE, markup=False)
        return 0
    mlflow = "--no-mlflow" not in args
    args = [a for a in args if a != "--no-mlflow"]
    try:
        sweep_dir = resolve_sweep_dir(args)
    except ValueError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error[/] {exc}\n{USAGE}", highlight=False)
        return 2
    sweep = load_sweep(sweep_dir)
    if not sweep.trials:
        err = Console(stderr=True, soft_wrap=True)
        err.print(f"[bold red]error[/] no finished trials under {sweep_dir}/trials", highlight=False)
        return 1
    report(sweep, console, mlflow=mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main())
