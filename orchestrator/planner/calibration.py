"""Calibration of the latency model from a table of measured (seq_len, tp, cp) → latency points.

Table format (YAML)::

    unit: ms
    points:
      - {seq_len: 32768, tp: 1, cp: 1, latency_ms: 77.2}
      - ...

The coefficients are fitted by non-negative least squares on relative errors (each row divided by
its measured latency), so 1 ms and 80 ms points count alike and no term can go negative (a negative
communication cost would reward more parallelism for free).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import nnls

from orchestrator.core.errors import ConfigError
from orchestrator.planner.model import TERMS, LatencyModel, features

FIELD = "planner.calibration_path"
DEFAULT_TABLE = "calibration/planner_default.yaml"  # inside the ``conf`` package


@dataclass(frozen=True)
class CalibrationPoint:
    seq_len: int
    tp: int
    cp: int
    latency_ms: float


@dataclass(frozen=True)
class Calibration:
    """A fitted model, the table it came from, and how well it reproduces that table."""

    model: LatencyModel
    points: tuple[CalibrationPoint, ...]
    source: str

    def relative_errors(self) -> list[float]:
        return [
            abs(self.model.seq_latency(p.seq_len, p.tp, p.cp) - p.latency_ms) / p.latency_ms
            for p in self.points
        ]

    def max_relative_error(self) -> float:
        return max(self.relative_errors())


def default_table_path() -> Path:
    return Path(str(resources.files("conf").joinpath(DEFAULT_TABLE)))


def load_points(path: str | Path) -> list[CalibrationPoint]:
    """Read a calibration table; any problem is a ConfigError naming ``planner.calibration_path``."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(FIELD, f"calibration table {p} does not exist")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(FIELD, f"{p} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list):
        raise ConfigError(FIELD, f"{p} must be a mapping with a 'points' list")
    if doc.get("unit", "ms") != "ms":
        raise ConfigError(FIELD, f"{p}: unit '{doc.get('unit')}' is not supported", ["ms"])
    return [_point(row, i, p) for i, row in enumerate(doc["points"])]


def _point(row: object, i: int, path: Path) -> CalibrationPoint:
    keys = ("seq_len", "tp", "cp", "latency_ms")
    if not isinstance(row, dict) or set(row) != set(keys):
        raise ConfigError(FIELD, f"{path}: point {i} must have exactly the keys {', '.join(keys)}")
    try:
        point = CalibrationPoint(
            int(row["seq_len"]), int(row["tp"]), int(row["cp"]), float(row["latency_ms"])
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(FIELD, f"{path}: point {i} has a non-numeric value: {exc}") from exc
    if min(point.seq_len, point.tp, point.cp) <= 0 or not point.latency_ms > 0:
        raise ConfigError(FIELD, f"{path}: point {i} needs positive seq_len, tp, cp, latency_ms: {row}")
    if not math.isfinite(point.latency_ms):
        raise ConfigError(FIELD, f"{path}: point {i} has a non-finite latency")
    return point


def fit(points: Sequence[CalibrationPoint], source: str = "<table>") -> Calibration:
    """Least-squares fit of the model's coefficients to ``points``.

    Raises ConfigError when the table cannot identify the model: fewer points than coefficients,
    or no point that exercises TP > 1 / CP > 1 (those overheads would silently fit to zero).
    """
    if len(points) < len(TERMS):
        raise ConfigError(
            FIELD, f"{source}: {len(points)} point(s); the model has {len(TERMS)} coefficients to fit"
        )
    if not any(p.tp > 1 for p in points) or not any(p.cp > 1 for p in points):
        raise ConfigError(FIELD, f"{source}: needs points with tp > 1 and with cp > 1 to fit their overheads")
    if len({p.seq_len for p in points}) < 3:
        raise ConfigError(FIELD, f"{source}: needs at least 3 distinct seq_len values (quadratic term)")
    a = np.array([features(p.seq_len, p.tp, p.cp) for p in points])
    y = np.array([p.latency_ms for p in points])
    coef, _ = nnls(a / y[:, None], np.ones_like(y))
    return Calibration(LatencyModel.from_coefficients(coef.tolist()), tuple(points), source)


def load_calibration(path: str | None) -> Calibration:
    """Fit the table at ``path`` (None or empty: the shipped default table)."""
    table = Path(path).expanduser() if path else default_table_path()
    return fit(load_points(table), str(table))
