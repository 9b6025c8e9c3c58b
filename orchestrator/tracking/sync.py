"""Getting trials from the local results store into MLflow: live during a sweep, or later.

During a sweep the ``Uploader`` logs each trial right after the store has written it. The first
MLflow failure stops uploads for the rest of the sweep (a dead server would otherwise cost a
timeout per trial): the sweep goes on, every trial not uploaded is marked so in the store, and one
warning says how to upload them later::

    python -m orchestrator.sync <sweep_dir> [--uri URI] [--experiment NAME]
    python -m orchestrator.sync <results_dir> <sweep_id> [--uri URI]

Sync is idempotent: it re-uses the sweep's parent run and each trial's child run, and skips a
trial whose run already holds the same attempt (same ``ended_at``, terminated). Without ``--uri``
it uses the sweep's ``tracking.uri`` or, when the sweep used the tool's local server, starts that
server again on ``<results_dir>/mlflow`` for the upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.core.errors import TrackingError
from orchestrator.core.status import Status
from orchestrator.store.results import ResultsStore
from orchestrator.tracking.run_record import record_of
from orchestrator.tracking.tracker import Tracker


def sync_command(store: ResultsStore) -> str:
    """The command that uploads what is missing (it finds the sweep's server by itself)."""
    return f"python -m orchestrator.sync {store.sweep_dir}"


class Uploader:
    """Uploads finished trials during a sweep; records (never raises) what MLflow did not get."""

    def __init__(self, store: ResultsStore, warn: Callable[[str], None]) -> None:
        self.store = store
        self.warn = warn
        self.tracker: Tracker | None = None
        self.parent_id: str | None = None
        self.error: str | None = None

    def connect(self, uri: str, experiment: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        """Open the experiment and the sweep's parent run; on failure warn and stay local."""
        try:
            tracker = Tracker(uri, experiment)
            self.parent_id = tracker.parent_run(self.store.sweep_id, params, tags)
            if self.store.config_path.exists():  # the sweep's resolved config, at the run's root
                tracker.log_files(self.parent_id, [self.store.config_path])
            self.tracker = tracker
            self.store.update_sweep_meta(mlflow_uri=uri, mlflow_parent_run_id=self.parent_id)
        except TrackingError as exc:
            self.disable(str(exc))

    @property
    def active(self) -> bool:
        return self.tracker is not None and self.parent_id is not None and self.error is None

    def upload(self, trial_id: str, aggregate: bool = False) -> str | None:
        """Log one stored trial (or a configuration's aggregate over its repeats); the child run id,
        or None (recorded as not uploaded)."""
        store = self.store
        if not self.active:
            store.mark_upload(trial_id, False, aggregate, error=self.error or "tracking disabled")
            return None
        assert self.tracker is not None and self.parent_id is not None
        try:
            record = record_of(store.trial(trial_id, aggregate))
        except (OSError, ValueError, yaml.YAMLError) as exc:  # an unreadable trial dir: this trial only
            store.mark_upload(trial_id, False, aggregate, error=f"reading the stored trial: {exc}")
            self.warn(f"trial {trial_id} not uploaded: {exc}; retry with {sync_command(store)}")
            return None
        try:
            run_id = self.tracker.log_record(self.parent_id, store.sweep_id, record)
        except TrackingError as exc:
            store.mark_upload(trial_id, False, aggregate, error=str(exc))
            self.disable(str(exc))
            return None
        store.mark_upload(trial_id, True, aggregate, uri=self.tracker.uri, run_id=run_id)
        return run_id

    def finish(self, ok: bool) -> None:
        if not self.active:
            return
        assert self.tracker is not None and self.parent_id is not None
        try:
            self.tracker.finish(self.parent_id, ok)
        except TrackingError as exc:
            self.disable(str(exc))

    def disable(self, error: str) -> None:
        """Stop uploading for this sweep, with one warning that says how to sync later."""
        self.error = error
        self.warn(
            f"{error}\nMLflow logging is off for the rest of this sweep; results stay local in "
            f"{self.store.sweep_dir}. Upload them later with: {sync_command(self.store)}"
        )


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    parent_id: str = ""


def sync_sweep(store: ResultsStore, tracker: Tracker) -> SyncReport:
    """Upload every trial of the store that the server lacks; mark each one's state in the store."""
    meta = store.sweep_meta()
    if not meta:
        raise TrackingError(f"no sweep.json in {store.sweep_dir}: not a sweep directory")
    report = SyncReport()
    tags = {"preset": str(meta.get("name", ""))}
    report.parent_id = tracker.parent_run(store.sweep_id, meta.get("config", {}), tags)
    if store.config_path.exists():
        tracker.log_files(report.parent_id, [store.config_path])
    stored = [(r["trial_id"], False) for r in store.all_results()]
    for trial_id, aggregate in [*stored, *((a, True) for a in store.aggregate_ids())]:
        record = record_of(store.trial(trial_id, aggregate), meta)
        have = tracker.children.get(trial_id)
        if have is not None and have.has(record):
            report.skipped.append(trial_id)
            store.mark_upload(trial_id, True, aggregate, uri=tracker.uri, run_id=have.run_id)
            continue
        try:
            run_id = tracker.log_record(report.parent_id, store.sweep_id, record)
        except TrackingError as exc:
            report.failed[trial_id] = str(exc)
            store.mark_upload(trial_id, False, aggregate, error=str(exc))
            continue
        report.uploaded.append(trial_id)
        store.mark_upload(trial_id, True, aggregate, uri=tracker.uri, run_id=run_id)
    ok = all(r["status"] == Status.DONE for r in store.all_results()) and not report.failed
    tracker.finish(report.parent_id, ok)
    store.update_sweep_meta(mlflow_uri=tracker.uri, mlflow_parent_run_id=report.parent_id)
    return report


def open_store(target: Path, sweep_id: str | None) -> ResultsStore:
    """``<sweep_dir>`` or ``<results_dir> <sweep_id>`` → the sweep's store."""
    target = Path(target).resolve()
    if sweep_id is None:
        return ResultsStore(target.parent, target.name)
    return ResultsStore(target, sweep_id)
