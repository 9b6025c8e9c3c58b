"""Any other trial (``smoke`` and the rest): the sweep summary table of :mod:`.summary`."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.config.schema import ReportConfig
from orchestrator.report.intervals import note, value_text
from orchestrator.report.render import Section, Table
from orchestrator.report.summary import SUMMARY_COLUMNS
from orchestrator.store.reader import TrialData

HEADERS = ["trial", "engine", "tp", "workload", "status", *(label for _, label in SUMMARY_COLUMNS)]


def _label(t: TrialData) -> str:
    suffix = t.name.split(f"-tp{t.tp}-", 1)
    return suffix[1] if len(suffix) == 2 else t.name


def sections(trials: Sequence[TrialData], cfg: ReportConfig | None = None) -> list[Section]:
    table = Table("", list(HEADERS))
    for t in sorted(trials, key=lambda t: (t.engine_name, t.tp, t.name)):
        cells = [value_text(t, k) if t.done else "-" for k, _ in SUMMARY_COLUMNS]
        table.rows.append([t.trial_id, t.engine_name, str(t.tp), _label(t), t.status_text, *cells])
    table.note = note(trials)
    return [Section("Summary", [table])]
