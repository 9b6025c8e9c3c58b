"""The local results store: the source of truth for resume, reports and MLflow sync (the writer,
and the one entry point for reading a sweep; :mod:`orchestrator.store.reader` has the records).

Layout: ``<results_dir>/<sweep_id>/sweep.json``, ``config.yaml`` (the sweep's resolved config) and
``trials/<trial_id>/`` holding ``result.json``
(status, reason, metrics, engine info), ``config.yaml`` (resolved trial config), ``requests.parquet``
(per-request records) and ``engine.log``. Each trial directory is written to a temporary name and
renamed into place, so a crash loses at most the running trial. Secrets are redacted before anything
is written (``orchestrator.store.redact``). ``upload.json`` beside a trial says whether MLflow has it: a
trial without one (or with ``uploaded: false``) is what ``python -m orchestrator.sync`` uploads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.core.trial import Trial
from orchestrator.store.layout import (
    AGGREGATES,
    CONFIG,
    ENGINE_LOG,
    REPORT_DIR,
    REQUESTS,
    RESULT,
    SWEEP_CONFIG,
    SWEEP_META,
    TRIALS,
    UPLOAD_MARKER,
    read_json,
    trial_dirs,
)
from orchestrator.store.reader import SweepData, TrialData, load_sweep, load_trial
from orchestrator.store.redact import Redactor


class ResultsStore:
    def __init__(self, root: Path, sweep_id: str) -> None:
        self.root = Path(root)
        self.sweep_id = sweep_id
        self.sweep_dir = self.root / sweep_id
        self.trials_dir = self.sweep_dir / TRIALS

    def init_sweep(self, meta: dict[str, Any]) -> None:
        """Create the sweep directory; keep the first metadata, add run history."""
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        path = self.sweep_dir / SWEEP_META
        existing = json.loads(path.read_text()) if path.exists() else {}
        merged = {
            **meta,
            **{k: v for k, v in existing.items() if k in ("created_at", "mlflow_parent_run_id")},
        }
        redact = Redactor.for_config(meta, env=os.environ)
        merged = redact.obj(merged)
        _atomic_write(path, json.dumps(merged, indent=2, default=str))
        if "config" in meta:
            plain = json.loads(json.dumps(redact.obj(meta["config"]), default=str))
            config = yaml.safe_dump(plain, sort_keys=False)
            _atomic_write(self.config_path, config)

    @property
    def config_path(self) -> Path:
        """The sweep's resolved config as YAML (written by :meth:`init_sweep`)."""
        return self.sweep_dir / SWEEP_CONFIG

    def sweep_meta(self) -> dict[str, Any]:
        return read_json(self.sweep_dir / SWEEP_META)

    def update_sweep_meta(self, **updates: Any) -> None:
        meta = Redactor.for_config(updates, env=os.environ).obj({**self.sweep_meta(), **updates})
        _atomic_write(self.sweep_dir / SWEEP_META, json.dumps(meta, indent=2, default=str))

    def trial_dir(self, trial_id: str, aggregate: bool = False) -> Path:
        return (self.sweep_dir / AGGREGATES if aggregate else self.trials_dir) / trial_id

    def write(self, trial: Trial, result: TrialResult) -> Path:
        """Write one finished trial atomically (replacing an earlier attempt), secrets redacted."""
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        resolved = trial.resolved()
        redact = Redactor.for_config(resolved, result.engine_info, env=os.environ)
        tmp = Path(tempfile.mkdtemp(prefix=f".{trial.trial_id}-", dir=self.trials_dir))
        try:
            stored = result.to_dict()
            summary = {
                **identity(trial),
                **{k: v for k, v in stored.items() if k != "trial_id"},
                "message": redact.text(result.message),
                "flags": [redact.obj(f) for f in stored["flags"]],
                "engine_info": redact.obj(result.engine_info),
            }
            (tmp / RESULT).write_text(json.dumps(summary, indent=2, default=str))
            (tmp / CONFIG).write_text(yaml.safe_dump(redact.obj(resolved), sort_keys=True))
            if result.engine_log:
                (tmp / ENGINE_LOG).write_text(redact.text(result.engine_log))
            if result.records:
                pd.DataFrame(result.records).to_parquet(tmp / REQUESTS, index=False)
            final = self.trial_dir(trial.trial_id)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
            return final
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def write_aggregate(self, trial: Trial, fields: dict[str, Any]) -> Path:
        """Write a configuration's aggregate over its repeats (``trial``: the configuration, without
        a repeat index) to ``aggregates/<config_id>/``, replacing an earlier one."""
        final = self.trial_dir(trial.trial_id, aggregate=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        resolved = trial.resolved()
        redact = Redactor.for_config(resolved, fields.get("engine_info") or {}, env=os.environ)
        tmp = Path(tempfile.mkdtemp(prefix=f".{trial.trial_id}-", dir=final.parent))
        summary = {**identity(trial), "config_id": trial.trial_id, "aggregate": True, **fields}
        (tmp / RESULT).write_text(json.dumps(redact.obj(summary), indent=2, default=str))
        (tmp / CONFIG).write_text(yaml.safe_dump(redact.obj(resolved), sort_keys=True))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        return final

    def read(self, trial_id: str, aggregate: bool = False) -> dict[str, Any] | None:
        path = self.trial_dir(trial_id, aggregate) / RESULT
        return json.loads(path.read_text()) if path.exists() else None

    def all_results(self) -> list[dict[str, Any]]:
        """Every finished trial's ``result.json``, in trial id order."""
        return [json.loads((d / RESULT).read_text()) for d in trial_dirs(self.sweep_dir)]

    def trial(self, trial_id: str, aggregate: bool = False) -> TrialData:
        """One stored trial (or aggregate) as a typed record (config, metrics, steps, flags, its files)."""
        return load_trial(self.trial_dir(trial_id, aggregate))

    def aggregate_ids(self) -> list[str]:
        """The configurations with an aggregate over their repeats, in id order."""
        return [d.name for d in trial_dirs(self.sweep_dir, AGGREGATES)]

    def load(self) -> SweepData:
        """The sweep and all its finished trials as typed records (what reports read)."""
        return load_sweep(self.sweep_dir)

    @property
    def report_dir(self) -> Path:
        return self.sweep_dir / REPORT_DIR

    def done_ids(self) -> set[str]:
        return {r["trial_id"] for r in self.all_results() if r["status"] == Status.DONE}

    def mark_upload(self, trial_id: str, uploaded: bool, aggregate: bool = False, **info: Any) -> None:
        """Record whether MLflow has this trial (run id, uri) or why not (error)."""
        state = {"uploaded": uploaded, **info}
        path = self.trial_dir(trial_id, aggregate) / UPLOAD_MARKER
        _atomic_write(path, json.dumps(state, indent=2, default=str))

    def upload_state(self, trial_id: str, aggregate: bool = False) -> dict[str, Any]:
        path = self.trial_dir(trial_id, aggregate) / UPLOAD_MARKER
        return dict(json.loads(path.read_text())) if path.exists() else {"uploaded": False}

    def requests(self, trial_id: str) -> pd.DataFrame:
        path = self.trial_dir(trial_id) / REQUESTS
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def identity(trial: Trial) -> dict[str, Any]:
    """What a stored result says the trial is (its repeat and configuration when it has a repeat index)."""
    out: dict[str, Any] = {
        "trial_id": trial.trial_id,
        "group_id": trial.group_id,
        "name": trial.name,
        "engine": trial.engine.name,
        "model": trial.model.name,
        "tp": trial.tp,
        "workload": trial.point.label(),
    }
    if trial.repeat is not None:
        out.update(repeat=trial.repeat, config_id=trial.base_id)
    return out


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
