"""Read a sweep back from the local results store (``<results_dir>/<sweep_id>/``) for reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml


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

    @property
    def engine_version(self) -> str:
        """The version of the engine that ran the trial (``unknown`` when none was recorded)."""
        return str(self.engine_info.get("engine_version") or "unknown")

    @property
    def done(self) -> bool:
        return self.status == "DONE"

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
        path = self.dir / "requests.parquet" if self.dir else None
        return pd.read_parquet(path) if path is not None and path.exists() else pd.DataFrame()


@dataclass(frozen=True)
class SweepData:
    sweep_dir: Path
    meta: dict[str, Any]
    trials: list[TrialData]

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.sweep_dir.name)

    @property
    def sweep_id(self) -> str:
        return str(self.meta.get("sweep_id") or self.sweep_dir.name)


def load_trial(trial_dir: Path) -> TrialData:
    r = json.loads((trial_dir / "result.json").read_text())
    cfg_path = trial_dir / "config.yaml"
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
    )


def load_sweep(sweep_dir: Path) -> SweepData:
    """Every finished trial of the sweep at ``sweep_dir`` (holding ``sweep.json`` and ``trials/``)."""
    sweep_dir = Path(sweep_dir)
    meta_path = sweep_dir / "sweep.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    trials_dir = sweep_dir / "trials"
    trials = []
    if trials_dir.is_dir():
        for d in sorted(trials_dir.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / "result.json").exists():
                trials.append(load_trial(d))
    return SweepData(sweep_dir, meta, trials)


def resolve_sweep_dir(args: list[str]) -> Path:
    """``<sweep_dir>`` or ``<results_dir> <sweep_id>``; ValueError naming what is missing."""
    if len(args) == 1:
        path = Path(args[0])
    elif len(args) == 2:
        path = Path(args[0]) / args[1]
    else:
        raise ValueError("give a sweep directory, or a results directory and a sweep id")
    if not (path / "sweep.json").exists() and not (path / "trials").is_dir():
        raise ValueError(f"{path} is not a sweep directory (no sweep.json or trials/)")
    return path
