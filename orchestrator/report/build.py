"""Pick the reports a sweep's trials call for, write them, and log them to MLflow.

Each trial goes to the first report that applies to it: static batches (seed 001), FlexGen
(seed 000), the all-at-once input × output grid (seeds 003/004); the rest to the generic summary.
The report opens with the engine versions the trials ran (``engine: tgi 3.3.7 (seed measured
0.8.x)``) and a note for each engine whose version is not the one the seed measured
(``engine.reference_version``; an ``x`` or ``*`` part matches any, a shorter one is a prefix),
then one line per engine instance saying what it really ran (:mod:`orchestrator.report.engine_runs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from orchestrator.config.schema import ReportConfig
from orchestrator.core.percentile_rules import PercentileRule, parse_rule
from orchestrator.report import cost, flexgen_compare, generic, serving_grid, static_batch
from orchestrator.report.engine_runs import run_lines
from orchestrator.report.render import Section, print_sections, write_report
from orchestrator.store.reader import SweepData, TrialData
from orchestrator.tracking.files import log_summary, server_answers, upload_files

Report = tuple[
    Callable[[TrialData], bool],
    Callable[[Sequence[TrialData], ReportConfig], list[Section]],
    Callable[[Sequence[TrialData]], dict[str, float]],  # the key figures, for the sweep's MLflow run
]
REPORTS: tuple[Report, ...] = (
    (static_batch.applies, static_batch.sections, static_batch.key_figures),
    (flexgen_compare.applies, flexgen_compare.sections, flexgen_compare.key_figures),
    (serving_grid.applies, serving_grid.sections, serving_grid.key_figures),
)
MAX_DESCRIPTION = 8000  # MLflow's limit on a tag value (the Description is the tag mlflow.note.content)
GENERIC: Report = (lambda t: True, generic.sections, generic.key_figures)


def sweep_report_config(sweep: SweepData, percentiles: str | None = None) -> ReportConfig:
    """The sweep's ``report`` config (sweep.json), with ``percentiles`` (the CLI flag) over it.

    ValueError naming the allowed rules for an unknown one.
    """
    stored = (sweep.meta.get("config") or {}).get("report") or {}
    rule = parse_rule(percentiles or stored.get("percentiles") or PercentileRule.linear)
    return ReportConfig(percentiles=str(rule))


def reference_version(sweep: SweepData, trial: TrialData) -> str | None:
    """The version the seed measured ``trial``'s engine with: recorded with the trial, else the
    sweep's config (``engine_overrides[<engine>]``, then ``engine.reference_version``)."""
    if trial.engine_info.get("reference_version"):
        return str(trial.engine_info["reference_version"])
    cfg = sweep.meta.get("config") or {}
    for override in (cfg.get("engine_overrides") or {}).get(trial.engine_name, []):
        key, _, value = str(override).lstrip("+").partition("=")
        if key == "engine.reference_version" and value not in ("", "null"):
            return value
    engine = cfg.get("engine") or {}
    if engine.get("reference_version") and (engine.get("name") == trial.engine_name or cfg.get("engines")):
        return str(engine["reference_version"])
    return None


def version_matches(running: str, reference: str) -> bool:
    """``3.3.7`` matches ``3.3.7``, ``3.3`` and ``3.x``; ``unknown`` matches nothing."""
    run_parts = running.strip().lstrip("v").split(".")
    for i, part in enumerate(reference.strip().lstrip("v").split(".")):
        if part in ("x", "*"):
            continue
        if i >= len(run_parts) or run_parts[i] != part:
            return False
    return running != "unknown"


def version_lines(sweep: SweepData) -> list[str]:
    """``engine: <name> <version(s)> (seed measured <ref>)`` per engine, and a note per mismatch."""
    lines: list[str] = []
    notes: list[str] = []
    engines: dict[str, list[TrialData]] = {}
    for t in sweep.trials:
        engines.setdefault(t.engine_name, []).append(t)
    for name, trials in engines.items():
        recorded = [t for t in trials if t.engine_info.get("engine_version")]
        versions = list(dict.fromkeys(t.engine_version for t in recorded)) or ["unknown"]
        refs = list(dict.fromkeys(r for t in trials if (r := reference_version(sweep, t))))
        ref = refs[0] if refs else None
        line = f"engine: {name} {', '.join(versions)}"
        lines.append(line + (f" (seed measured {ref})" if ref else ""))
        if ref is None:
            continue
        for v in versions:
            if v == "unknown":
                notes.append(f"note: the {name} version is not recorded; the seed measured {ref}.")
            elif not version_matches(v, ref):
                notes.append(f"note: {name} {v} is not the version the seed measured ({ref}); "
                             "figures may differ from the seed's for that reason.")  # fmt: skip
    return lines + notes


def validity_lines(sweep: SweepData) -> list[str]:
    """One line per validity flag of a trial: a run that did not measure what it claims is never
    shown as a clean DONE. ``DONE*``: finished, figures qualified by the flag; failing flags name
    the FAILED trial's reason."""
    lines = []
    for t in [*sweep.trials, *sweep.aggregates]:
        for f in t.flags:
            effect = "fails the trial" if f.get("fails") else "qualifies its figures"
            head = f"{t.name} [{t.trial_id}] {t.status_text}: {f.get('kind')} ({effect})"
            lines.append(f"{head}: {f.get('reason', '')}")
    return lines


def build_sections(sweep: SweepData, cfg: ReportConfig | None = None) -> list[Section]:
    cfg = cfg or ReportConfig()
    out: list[Section] = []
    if sweep.trials:
        out.append(Section("Engines", notes=version_lines(sweep) + run_lines(sweep)))
    if flagged := validity_lines(sweep):
        out.append(Section("Validity flags", notes=flagged))
    reported = sweep.reported()  # an aggregate over its repeats in their place
    for (_, make, _), mine in claims(reported):
        out += make(mine, cfg)
    if not sweep.trials:
        out += generic.sections([], cfg)
    return out + cost.sections(reported)


def claims(reported: Sequence[TrialData]) -> list[tuple[Report, list[TrialData]]]:
    """Each report with the trials it shows (each trial in the first that applies; the generic
    summary takes the rest), in report order; ``reported`` is :meth:`SweepData.reported`."""
    claimed: set[str] = set()
    out = []
    for entry in (*REPORTS, GENERIC):
        mine = [t for t in reported if t.trial_id not in claimed and entry[0](t)]
        if mine:
            out.append((entry, mine))
            claimed.update(t.trial_id for t in mine)
    return out


def sweep_metrics(sweep: SweepData) -> tuple[dict[str, float], str | None]:
    """The parent run's summary metrics, and the name of the sweep's key figure (the first key
    figure of its first report: e.g. ``best_output_token_throughput`` for ``smoke``, the vLLM / TGI
    throughput ratio for seed 003)."""
    failed = [t for t in sweep.trials if not t.done]
    metrics = {
        "trials": float(len(sweep.trials)),
        "trials_done": float(len(sweep.trials) - len(failed)),
        "trials_failed": float(len(failed)),
        "trials_flagged": float(sum(bool(t.flags) for t in sweep.trials)),
    }
    key: str | None = None
    for (_, _, figures), mine in claims(sweep.reported()):  # with repeats: the aggregates' means
        found = figures(mine)
        if found and key is None:  # a ratio, when the report has one, says more than a maximum
            key = next((k for k in found if "ratio" in k or "scale" in k), next(iter(found)))
        metrics.update(found)
    if key is not None:
        metrics["key_figure"] = metrics[key]
    return metrics, key


def description(markdown: str) -> str:
    """The run's Description in MLflow: the report's tables (its plots are in the HTML page)."""
    text = "\n".join(ln for ln in markdown.splitlines() if not ln.startswith("!["))
    note = "\n\nPlots and the whole report: the run's artifacts, `report/report.html`."
    if len(text) + len(note) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - len(note) - 30].rsplit("\n", 1)[0] + "\n\n(cut here)"
    return text + note


def log_to_mlflow(sweep: SweepData, files: Sequence[Path], console: Console) -> bool:
    """Log ``files`` under ``report/`` on the sweep's parent run, with the summary metrics of
    :func:`sweep_metrics` (and a ``key_figure`` tag naming the key one); warn (False) when that
    is not possible."""
    uri, run_id = sweep.meta.get("mlflow_uri"), sweep.meta.get("mlflow_parent_run_id")
    if not uri or not run_id:
        console.print("[yellow]warning[/] the sweep has no MLflow run recorded: report kept locally")
        return False
    if not server_answers(uri):
        console.print(f"[yellow]warning[/] MLflow at {uri} does not answer: report kept locally")
        return False
    metrics, key = sweep_metrics(sweep)
    tags = {"key_figure": key} if key else {}
    if files and files[0].name == "report.md":
        tags["mlflow.note.content"] = description(files[0].read_text())
    error = upload_files(uri, run_id, files, "report") or log_summary(uri, run_id, metrics, tags)
    if error is not None:
        console.print(f"[yellow]warning[/] logging the report to MLflow run {run_id} failed: {error}")
        return False
    console.print(f"report logged to MLflow run {run_id} ({uri})", highlight=False)
    return True


def report(
    sweep: SweepData,
    console: Console,
    *,
    mlflow: bool = True,
    percentiles: str | None = None,
    show: bool = True,
) -> list[Path]:
    """Render the sweep to the terminal (``show``), ``<sweep_dir>/report/`` (Markdown, PNG and one
    self-contained HTML page) and MLflow.

    ``percentiles`` (``linear`` | ``tgi_benchmark``) overrides the sweep's ``report.percentiles``.
    """
    sections = build_sections(sweep, sweep_report_config(sweep, percentiles))
    if show:
        print_sections(console, sections)
    title = f"{sweep.name}: sweep {sweep.sweep_id}"
    files = write_report(sweep.report_dir, title, sections)
    console.print(f"report: {files[0]} and {files[-1].name}", highlight=False)
    if mlflow:
        log_to_mlflow(sweep, files, console)
    return files
