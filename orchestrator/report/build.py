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
from orchestrator.report import flexgen_compare, generic, serving_grid, static_batch
from orchestrator.report.engine_runs import run_lines
from orchestrator.report.render import Section, print_sections, write_report
from orchestrator.store.reader import SweepData, TrialData
from orchestrator.tracking.files import server_answers, upload_files

Report = tuple[Callable[[TrialData], bool], Callable[[Sequence[TrialData], ReportConfig], list[Section]]]
REPORTS: tuple[Report, ...] = (
    (static_batch.applies, static_batch.sections),
    (flexgen_compare.applies, flexgen_compare.sections),
    (serving_grid.applies, serving_grid.sections),
)


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
    for t in sweep.trials:
        for f in t.flags:
            effect = "fails the trial" if f.get("fails") else "qualifies its figures"
            head = f"{t.name} [{t.trial_id}] {t.status_text}: {f.get('kind')} ({effect})"
            lines.append(f"{head}: {f.get('reason', '')}")
    return lines


def build_sections(sweep: SweepData, cfg: ReportConfig | None = None) -> list[Section]:
    cfg = cfg or ReportConfig()
    claimed: set[str] = set()
    out: list[Section] = []
    if sweep.trials:
        out.append(Section("Engines", notes=version_lines(sweep) + run_lines(sweep)))
    if flagged := validity_lines(sweep):
        out.append(Section("Validity flags", notes=flagged))
    for applies, make in REPORTS:
        mine = [t for t in sweep.trials if t.trial_id not in claimed and applies(t)]
        if mine:
            out += make(mine, cfg)
            claimed.update(t.trial_id for t in mine)
    rest = [t for t in sweep.trials if t.trial_id not in claimed]
    if rest or not sweep.trials:
        out += generic.sections(rest, cfg)
    return out


def log_to_mlflow(sweep: SweepData, files: Sequence[Path], console: Console) -> bool:
    """Log ``files`` under ``report/`` on the sweep's parent run; warn (False) when that is not possible."""
    uri, run_id = sweep.meta.get("mlflow_uri"), sweep.meta.get("mlflow_parent_run_id")
    if not uri or not run_id:
        console.print("[yellow]warning[/] the sweep has no MLflow run recorded: report kept locally")
        return False
    if not server_answers(uri):
        console.print(f"[yellow]warning[/] MLflow at {uri} does not answer: report kept locally")
        return False
    error = upload_files(uri, run_id, files, "report")
    if error is not None:
        console.print(f"[yellow]warning[/] logging the report to MLflow run {run_id} failed: {error}")
        return False
    console.print(f"report logged to MLflow run {run_id} ({uri})", highlight=False)
    return True


def report(
    sweep: SweepData, console: Console, *, mlflow: bool = True, percentiles: str | None = None
) -> list[Path]:
    """Render the sweep to the terminal, ``<sweep_dir>/report/`` (Markdown + PNG) and MLflow.

    ``percentiles`` (``linear`` | ``tgi_benchmark``) overrides the sweep's ``report.percentiles``.
    """
    sections = build_sections(sweep, sweep_report_config(sweep, percentiles))
    print_sections(console, sections)
    title = f"{sweep.name}: sweep {sweep.sweep_id}"
    files = write_report(sweep.report_dir, title, sections)
    console.print(f"report: {files[0]}", highlight=False)
    if mlflow:
        log_to_mlflow(sweep, files, console)
    return files
