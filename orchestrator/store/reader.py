"""Reading the results store: a sweep and its trials as typed records (reports, MLflow records,
resume), and the durations of earlier sweeps' trials (the scheduler's launch order).

A trial id hashes the trial's resolved config, so the same trial in another sweep under the same
``results_dir`` has the same id: :func:`load_durations` reads the wall time of the given trials
there.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from orchestrator.core.status import Status
from orchestrator.store.layout import (
    AGGREGATES,
    ARTIFACTS,
    CONFIG,
    REPORT_DIR,
    REQUESTS,
    RESULT,
    SWEEP_META,
    TRIALS,
    read_json,
    trial_dirs,
)


@dataclass(frozen=True)
class TrialData:
    """One trial as stored: status, resolved config (``engine``, ``model``, ``workload``), metrics,
    and the engine info the run recorded (version, placement, command)."""

    trial_id: str
    name: str
    status: str
    reason: str | None
    tp: int
    config: dict[str, Any]
    metrics: dict[str, float]
    dir: Path | None = None
    steps: list[dict[str, float]] = field(default_factory=list)
    engine_info: dict[str, Any] = field(default_factory=dict)  # engine_version, reference_version, ...
    flags: list[dict[str, Any]] = field(default_factory=list)  # core.validity.Flag.to_dict() each
    result: dict[str, Any] = field(default_factory=dict)  # result.json as stored
    members: tuple[TrialData, ...] = ()  # an aggregate's repeats, in repeat order

    @property
    def config_id(self) -> str:
        """The configuration: the same for every repeat of a trial (its own id without repeats)."""
        return str(self.result.get("config_id") or self.trial_id)

    @property
    def repeat(self) -> int | None:
        value = self.result.get("repeat")
        return None if value is None else int(value)

    @property
    def is_aggregate(self) -> bool:
        """The mean and interval over a configuration's repeats (``aggregates/<config_id>/``)."""
        return bool(self.result.get("aggregate"))

    @property
    def engine_version(self) -> str:
        """The version of the engine that ran the trial (``unknown`` when none was recorded)."""
        return str(self.engine_info.get("engine_version") or "unknown")

    @property
    def done(self) -> bool:
        return self.status == Status.DONE

    @property
    def engine(self) -> dict[str, Any]:
        return dict(self.config.get("engine", {}))

    @property
    def workload(self) -> dict[str, Any]:
        return dict(self.config.get("workload", {}))

    @property
    def engine_name(self) -> str:
        return str(self.engine.get("name", "?"))

    @property
    def status_text(self) -> str:
        """``DONE``, ``DONE*`` (finished, with validity flags), ``OOM`` or ``FAILED(<reason>)``."""
        if self.done:
            return "DONE*" if self.flags else "DONE"
        if self.reason == "oom":
            return "OOM"
        return f"{self.status}({self.reason})" if self.reason else self.status

    def requests(self) -> pd.DataFrame:
        """The per-request records (empty when none were stored)."""
        path = self.dir / REQUESTS if self.dir else None
        return pd.read_parquet(path) if path is not None and path.exists() else pd.DataFrame()

    def artifacts(self) -> list[Path]:
        """The trial's stored files that exist, in :data:`~orchestrator.store.layout.ARTIFACTS` order."""
        return [self.dir / n for n in ARTIFACTS if (self.dir / n).exists()] if self.dir else []

    @property
    def report_dir(self) -> Path | None:
        """A report written for this trial alone, if any."""
        path = self.dir / REPORT_DIR if self.dir else None
        return path if path is not None and path.is_dir() else None


@dataclass(frozen=True)
class SweepData:
    sweep_dir: Path
    meta: dict[str, Any]
    trials: list[TrialData]
    aggregates: list[TrialData] = field(default_factory=list)  # one per configuration with repeats

    def reported(self) -> list[TrialData]:
        """What reports show: each aggregate in place of its repeats, every other trial as it is
        (repeats of a configuration without an aggregate yet included)."""
        covered = {a.config_id for a in self.aggregates}
        rest = [t for t in self.trials if t.repeat is None or t.config_id not in covered]
        return [*rest, *self.aggregates]

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.sweep_dir.name)

    @property
    def sweep_id(self) -> str:
        return str(self.meta.get("sweep_id") or self.sweep_dir.name)

    @property
    def report_dir(self) -> Path:
        """Where the sweep's report goes (``report/``)."""
        return self.sweep_dir / REPORT_DIR


def load_trial(trial_dir: Path) -> TrialData:
    """One stored trial (``trials/<id>/``)."""
    trial_dir = Path(trial_dir)
    r = json.loads((trial_dir / RESULT).read_text())
    cfg_path = trial_dir / CONFIG
    config = yaml.safe_load(cfg_path.read_text()) if cfg_path.exists() else {}
    return TrialData(
        trial_id=r["trial_id"],
        name=r.get("name", r["trial_id"]),
        status=r["status"],
        reason=r.get("reason"),
        tp=int(r.get("tp", config.get("engine", {}).get("tp", 1))),
        config=config or {},
        metrics=dict(r.get("metrics") or {}),
        dir=trial_dir,
        steps=list(r.get("steps") or []),
        engine_info=dict(r.get("engine_info") or {}),
        flags=list(r.get("flags") or []),
        result=r,
    )


def load_sweep(sweep_dir: Path) -> SweepData:
    """Every finished trial of the sweep at ``sweep_dir`` (holding ``sweep.json`` and ``trials/``)."""
    sweep_dir = Path(sweep_dir)
    trials = [load_trial(d) for d in trial_dirs(sweep_dir)]
    by_id = {t.trial_id: t for t in trials}
    aggregates = []
    for d in trial_dirs(sweep_dir, AGGREGATES):
        agg = load_trial(d)
        ids = (agg.result.get("repeats") or {}).get("trial_ids") or []
        members = tuple(by_id[i] for i in ids if i in by_id)
        aggregates.append(dataclasses.replace(agg, members=members))
    return SweepData(sweep_dir, read_sweep_meta(sweep_dir), trials, aggregates)


def resolve_sweep_dir(args: list[str]) -> Path:
    """``<sweep_dir>`` or ``<results_dir> <sweep_id>``; ValueError naming what is missing."""
    if len(args) == 1:
        path = Path(args[0])
    elif len(args) == 2:
        path = Path(args[0]) / args[1]
    else:
        raise ValueError("give a sweep directory, or a results directory and a sweep id")
    if not (path / SWEEP_META).exists() and not (path / TRIALS).is_dir():
        raise ValueError(f"{path} is not a sweep directory (no sweep.json or trials/)")
    return path


def read_sweep_meta(sweep_dir: Path) -> dict[str, Any]:
    """``sweep.json`` ({} when the sweep has none)."""
    return read_json(Path(sweep_dir) / SWEEP_META)


def load_durations(results_dir: Path, trial_ids: Collection[str]) -> dict[str, float]:
    """Trial id → median wall seconds over every DONE result of these trials under ``results_dir``
    (any sweep); other trials' results are not read."""
    seen: dict[str, list[float]] = {}
    for path in Path(results_dir).glob(f"*/{TRIALS}/*/{RESULT}"):
        if path.parent.name not in trial_ids:
            continue
        try:
            result = json.loads(path.read_text())
            if result.get("status") != Status.DONE:
                continue
            seconds = float(result["ended_at"]) - float(result["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a trial being written, or an older layout: no estimate, no harm
        if seconds > 0:
            seen.setdefault(path.parent.name, []).append(seconds)
    return {trial_id: statistics.median(values) for trial_id, values in seen.items()}
