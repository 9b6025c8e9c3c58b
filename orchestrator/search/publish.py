"""The search in MLflow: the sweep's parent run is the search, with one child run per candidate.

A candidate's run is named ``<engine>-tp<tp>-<settings>`` (``vllm-tp1-max_num_seqs8``) and holds
its highest round's trial as a sweep's child run would (params, metrics, the SLA probes as step
metrics, the trial's files), plus the search's figures of it (``goodput_per_gpu``,
``goodput_per_gpu_hour``, ``interactivity_tok_s_user``, ``search_round``, ``search_gpu_hours``,
one ``rounds/<metric>`` point per round) and tags ``search.verdict`` / ``search.why``. Its
``trial_id`` tag is the candidate's id, so each round (and each rerun) updates the same run. The
parent run gets the report's files, the chosen configuration's figures and the table as its
description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.core.errors import TrackingError
from orchestrator.report.build import description
from orchestrator.search.measure import Measurement
from orchestrator.search.policy import Choice, Plan, Rules
from orchestrator.search.report import SearchReport
from orchestrator.search.space import Candidate
from orchestrator.store.results import ResultsStore
from orchestrator.tracking.files import log_summary, upload_files
from orchestrator.tracking.run_record import record_of
from orchestrator.tracking.sync import Uploader

ROUND_PARAMS = ("workload.num_requests", "workload.sla_iterations")
"""What changes from round to round: metrics (``requests_per_probe``, ``bisection_steps``), not
params, which MLflow never lets change once logged."""


def candidate_metrics(m: Measurement, rules: Rules, gpu_s: float, chosen: bool) -> dict[str, float]:
    out = {
        "search_round": float(m.round),
        "search_gpu_hours": gpu_s / 3600,
        "search_chosen": float(chosen),
        "upper_goodput_per_gpu": m.upper_per_gpu,
    }
    if m.ok:
        out.update(
            search_goodput_tok_s=m.goodput,
            goodput_per_gpu=m.goodput_per_gpu,
            goodput_per_gpu_hour=m.per_gpu_hour(m.goodput_per_gpu, rules.lifetime_s),
        )
        if m.interactivity is not None:
            out["interactivity_tok_s_user"] = m.interactivity
    return out


def round_series(rounds: Sequence[Measurement]) -> list[tuple[str, float, int]]:
    """``rounds/<metric>`` at step = round, for every round the candidate was measured in."""
    out = []
    for m in rounds:
        if m.ok:
            out += [
                ("rounds/goodput_per_gpu", m.goodput_per_gpu, m.round),
                ("rounds/sla_max_rate", m.rate or 0.0, m.round),
            ]
    return out


def publish_candidates(
    uploader: Uploader,
    store: ResultsStore,
    candidates: Sequence[Candidate],
    plan: Plan,
    rules: Rules,
    history: Mapping[str, Sequence[Measurement]],
    spent: Mapping[str, float],
    choice: Choice | None = None,
) -> None:
    """Create or update each measured candidate's child run (never raises: MLflow down → warned once)."""
    tracker, parent = uploader.tracker, uploader.parent_id
    if not uploader.active or tracker is None or parent is None:
        return
    meta = store.sweep_meta()
    for c in candidates:
        m = plan.latest.get(c.cid)
        if m is None:
            continue
        record = record_of(store.trial(m.trial_id), meta)
        chosen = choice is not None and choice.measurement.cid == c.cid
        tags = {
            **record.tags,
            "trial_id": c.cid,
            "last_trial_id": m.trial_id,
            "candidate": c.label,
            "search.verdict": "chosen" if chosen else str(plan.verdicts.get(c.cid, "")),
            "search.why": plan.why.get(c.cid, "")[:500],
        }
        params = {k: v for k, v in record.params.items() if k not in ROUND_PARAMS}
        params.update({f"search.{p}": str(v)[:500] for p, v in c.settings})
        rounds = {"requests_per_probe": float(record.params.get("workload.num_requests", 0) or 0),
                  "bisection_steps": float(record.params.get("workload.sla_iterations", 0) or 0)}  # fmt: skip
        record = dataclasses.replace(
            record,
            trial_id=c.cid,
            name=c.slug,
            tags=tags,
            params=params,
            metrics={
                **record.metrics,
                **rounds,
                **candidate_metrics(m, rules, spent.get(c.cid, 0.0), chosen),
            },
            series=round_series(history.get(c.cid, ())),
        )
        try:
            tracker.log_record(parent, store.sweep_id, record)
        except TrackingError as exc:
            uploader.disable(str(exc))
            return


def publish_search(uploader: Uploader, report: SearchReport, warn: Callable[[str], None]) -> None:
    """The report's files, the choice's figures and the table on the parent run."""
    tracker, parent = uploader.tracker, uploader.parent_id
    if not uploader.active or tracker is None or parent is None:
        return
    metrics, tags = parent_figures(report.summary)
    tags["mlflow.note.content"] = description(report.files[0].read_text())
    error = upload_files(tracker.uri, parent, report.files, "report") or log_summary(
        tracker.uri, parent, metrics, tags
    )
    if error is not None:
        warn(f"logging the search's report to MLflow run {parent} failed: {error}")


def parent_figures(summary: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """The parent run's metrics and tags from the report's ``search.json`` summary."""
    rows = summary.get("candidates") or []
    statuses = [str(r.get("status", "")) for r in rows]
    metrics = {
        "candidates": float(len(rows)),
        "candidates_failed": float(sum(s.startswith("failed") for s in statuses)),
        "candidates_measured": float(sum(s in ("measured", "chosen") for s in statuses)),
        "search_gpu_hours": sum(float(r.get("gpu_hours") or 0.0) for r in rows),
    }
    tags = {"search.line": str(summary.get("line", ""))[:500]}
    chosen = summary.get("chosen")
    if chosen:
        metrics.update(
            chosen_score=float(chosen["score"]), chosen_goodput_per_gpu=float(chosen["goodput_per_gpu"])
        )
        metrics["chosen_sla_max_rate"] = float(chosen["rate"] or 0.0)
        margins = [v for v in (chosen.get("margins") or {}).values() if v is not None]
        if margins:
            metrics["chosen_min_slo_margin"] = float(min(margins))
        tags.update({"search.chosen": str(chosen["label"]), "search.chosen_id": str(chosen["candidate"])})
    return metrics, tags
