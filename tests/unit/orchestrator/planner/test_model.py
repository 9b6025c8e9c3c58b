"""The planner's latency model and its calibration: fits reproduce their tables; bad tables raise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.core.errors import ConfigError
from orchestrator.planner.calibration import (
    CalibrationPoint,
    default_table_path,
    fit,
    load_calibration,
    load_points,
)
from orchestrator.planner.model import TERMS, LatencyModel

REF = LatencyModel(attn=0.04, linear=0.9, tp_comm=0.2, cp_comm=0.12, tp_step=0.03, cp_step=0.1, fixed=0.06)
SHAPES = [(1, 1), (2, 1), (8, 1), (1, 4), (4, 2), (8, 4)]


def exact_points(model: LatencyModel) -> list[CalibrationPoint]:
    return [
        CalibrationPoint(s, t, c, model.seq_latency(s, t, c))
        for s in (1024, 4096, 16384, 65536)
        for t, c in SHAPES
    ]


def write_table(path: Path, points: list[dict[str, float]], **extra: object) -> Path:
    path.write_text(yaml.safe_dump({"unit": "ms", **extra, "points": points}))
    return path


def test_default_table_is_reproduced_by_its_fit() -> None:
    cal = load_calibration(None)
    assert cal.source == str(default_table_path())
    assert len(cal.points) >= len(TERMS)
    assert cal.max_relative_error() < 0.05
    assert all(v >= 0 for v in cal.model.coefficients())


def test_fit_recovers_known_coefficients() -> None:
    cal = fit(exact_points(REF))
    assert cal.max_relative_error() < 1e-6
    for got, want in zip(cal.model.coefficients(), REF.coefficients(), strict=True):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-7)


def test_attention_is_quadratic_and_parallelism_divides_compute() -> None:
    m = LatencyModel(attn=1.0, linear=0, tp_comm=0, cp_comm=0, tp_step=0, cp_step=0, fixed=0)
    assert m.seq_latency(2048, 1, 1) == pytest.approx(4 * m.seq_latency(1024, 1, 1))
    assert m.seq_latency(4096, 2, 2) == pytest.approx(m.seq_latency(4096, 1, 1) / 4)
    comm = LatencyModel(attn=0, linear=0, tp_comm=1, cp_comm=1, tp_step=0, cp_step=0, fixed=0)
    assert comm.seq_latency(4096, 1, 1) == 0
    assert comm.seq_latency(4096, 2, 1) > 0 and comm.seq_latency(4096, 1, 2) > 0


def test_group_latency_sums_sequences() -> None:
    assert REF.group_latency([], 2, 2) == 0
    one, two = REF.seq_latency(1024, 2, 2), REF.seq_latency(32768, 2, 2)
    assert REF.group_latency([1024, 32768, 1024], 2, 2) == pytest.approx(2 * one + two)
    assert REF.group_latency([1024, 32768], 2, 2) == REF.group_latency([32768, 1024], 2, 2)


def test_user_table_path(tmp_path: Path) -> None:
    rows = [vars(p) for p in exact_points(REF)]
    cal = load_calibration(str(write_table(tmp_path / "t.yaml", rows)))
    assert cal.max_relative_error() < 1e-6 and len(cal.points) == len(rows)


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([{"seq_len": 1024, "tp": 1, "cp": 1}], "exactly the keys"),
        ([{"seq_len": 1024, "tp": 1, "cp": 1, "latency_ms": -1.0}], "positive"),
        ([{"seq_len": 1024, "tp": 0, "cp": 1, "latency_ms": 1.0}], "positive"),
        ([{"seq_len": "x", "tp": 1, "cp": 1, "latency_ms": 1.0}], "non-numeric"),
        ([{"seq_len": 1024, "tp": 1, "cp": 1, "latency_ms": 1.0}], "7 coefficients"),
    ],
)
def test_bad_tables_raise(tmp_path: Path, rows: list[dict[str, object]], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as exc:
        load_calibration(str(write_table(tmp_path / "bad.yaml", rows)))  # type: ignore[arg-type]
    assert exc.value.field == "planner.calibration_path"


def test_unidentifiable_tables_raise() -> None:
    no_tp = [p for p in exact_points(REF) if p.tp == 1]
    with pytest.raises(ConfigError, match="tp > 1"):
        fit(no_tp)
    two_lengths = [p for p in exact_points(REF) if p.seq_len in (1024, 4096)]
    with pytest.raises(ConfigError, match="3 distinct seq_len"):
        fit(two_lengths)


def test_missing_and_malformed_files_raise(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_points(tmp_path / "nope.yaml")
    (tmp_path / "a.yaml").write_text("points: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_points(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="'points' list"):
        load_points(tmp_path / "b.yaml")
    write_table(tmp_path / "c.yaml", [], unit="s")
    with pytest.raises(ConfigError, match="unit"):
        load_points(tmp_path / "c.yaml")


def test_model_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        REF.seq_latency(0, 1, 1)
    with pytest.raises(ValueError):
        REF.seq_latency(1024, 0, 1)
    with pytest.raises(ValueError):
        LatencyModel.from_coefficients([1.0, 2.0])
