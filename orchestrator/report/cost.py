"""The "Cost and co-tenancy" section: per reported trial the GPU-seconds it held (placement to
release, start-up and model load included) and measured, dollars per million output tokens
(``cost.gpu_hour_usd``: at the measured throughput and at the SLO rate), GPU energy and output
tokens per joule (NVML, on GPU), the node's CPU load during the point, and the other engine
instances that measured on its node meanwhile. Shown when some trial recorded any of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.report.intervals import note, value_text
from orchestrator.report.render import Section, Table
from orchestrator.store.reader import TrialData

COLUMNS = (
    ("gpu_seconds_held", "GPU-s held", 1),
    ("gpu_seconds_measured", "GPU-s measured", 1),
    ("usd_per_mtok_output", "$/M out tok", 4),
    ("usd_per_mtok_output_at_slo", "$/M out tok at SLO", 4),
    ("gpu_energy_j", "GPU J", 1),
    ("output_tokens_per_j", "out tok/J", 3),
    ("node_cpu_percent", "node CPU %", 0),
)


def co_tenants(t: TrialData) -> str:
    """The trial ids that measured beside it (its repeats' together), '' when none."""
    runs = t.members or (t,)
    ids = {o["trial_id"] for m in runs for o in (m.result.get("co_tenancy") or {}).get("others", [])}
    return ",".join(sorted(ids))


def sections(trials: Sequence[TrialData]) -> list[Section]:
    done = [t for t in trials if t.done]
    if not any(k in t.metrics for t in done for k, *_ in COLUMNS):
        return []
    table = Table("", ["trial", "name", *(label for _, label, _ in COLUMNS), "co-tenants"])
    for t in sorted(done, key=lambda t: t.name):
        cells = [value_text(t, key, digits=d) for key, _, d in COLUMNS]
        table.rows.append([t.trial_id, t.name, *cells, co_tenants(t) or "-"])
    table.note = note(done)
    return [Section("Cost and co-tenancy", [table])]
