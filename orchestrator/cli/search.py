"""The SLO search from the command line (``search=slo``, docs/search.md): the sweep's session
(store, MLflow, cluster, view) around :class:`orchestrator.search.run.SearchRun`, then the report,
MLflow's candidate runs and, as the very last line, the chosen configuration.

Exit codes: 0 a configuration met the SLO (candidates that FAILED are in the table with their
reason), 1 none did, 2 a config error, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from orchestrator.cli.sweep import session
from orchestrator.config.schema import ExperimentConfig
from orchestrator.core.status import Status
from orchestrator.report.render import Section, print_sections
from orchestrator.search.policy import Choice, choose
from orchestrator.search.publish import publish_candidates, publish_search
from orchestrator.search.report import build
from orchestrator.search.run import SearchRun
from orchestrator.search.space import Candidate
from orchestrator.search.trials import slo_limits


def run_search(
    cfg: ExperimentConfig, candidates: Sequence[Candidate], console: Console, verbose: bool = False
) -> int:
    """Run (or resume) the search; print its table and, last, the chosen configuration."""
    line, slo = "", slo_limits(cfg)
    with session(cfg, console, verbose) as s:
        run = SearchRun(cfg, candidates, s.store, s.cluster, s.view, s.watch)
        had = [m for m in run.measurements().values() if not m.retried]
        if had:
            failed = sum(m.status != Status.DONE for m in had)
            console.print(f"resuming search {s.store.sweep_id}: {len(had)} measurement(s) already recorded "
                          f"({failed} FAILED)", highlight=False)  # fmt: skip

        def publish(choice: Choice | None = None) -> None:  # MLflow's candidate runs, after each round
            publish_candidates(s.uploader, s.store, candidates, run.plan(), run.rules, run.history(),
                               run.spent_by_candidate(), choice)  # fmt: skip

        run.on_round = lambda _: publish()
        plan = run.run()
        s.watch.close()
        s.view.stop()
        choice = choose(plan, run.rules, slo, run.order)
        title = f"{cfg.name}: search {s.store.sweep_id}"
        result = build(
            s.store.report_dir, title, candidates, plan, run.rules, choice, slo, run.spent_by_candidate()
        )
        publish(choice)
        publish_search(s.uploader, result, lambda msg: console.print(f"[yellow]warning[/] {msg}"))
        s.uploader.finish(choice is not None)
        print_sections(console, [Section(f"search {s.store.sweep_id}", [result.table])])
        console.print(f"report: {result.files[0]}", highlight=False)
        console.print(f"results: {s.store.sweep_dir}", highlight=False)
        line, s.code = result.line, 0 if choice is not None else 1
    if s.code != 130:  # the last line, plain: what to deploy (or that nothing met the SLO)
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return s.code
