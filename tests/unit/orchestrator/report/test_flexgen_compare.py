"""Seed 000 report: origin vs diagonal and the Compare Scale from the seed's own figures; OOM shown."""

from __future__ import annotations

from pathlib import Path

from orchestrator.report.flexgen_compare import sections
from orchestrator.store.reader import load_sweep
from tests.seed_results import FLEX_KEYS, flexgen_store, seed_000


def test_compare_scale_is_diagonal_over_origin(tmp_path: Path) -> None:
    grid, seed_scale = seed_000()
    sweep = load_sweep(flexgen_store(tmp_path).sweep_dir)
    assert len(sweep.trials) == 32
    (section,) = sections(sweep.trials)
    _, compare, _ = section.tables
    assert compare.headers == ["Num batches", "Prompt", "latency", "throughput", "peak mem"]
    assert len(compare.rows) == 16
    for row in compare.rows:
        nb, prompt = int(row[0]), int(row[1])
        if (nb, prompt) == (32, 1024):
            assert row[2:] == ["OOM", "OOM", "OOM"]  # the seed's zeros: never 0 or a ratio
            continue
        origin, diag = grid[("origin", nb, prompt)], grid[("diagonal", nb, prompt)]
        assert row[2:] == [f"{d / o:.3f}" for d, o in zip(diag, origin, strict=True)]
        seed_thr, seed_mem = (float(c) for c in seed_scale[(nb, prompt)])
        assert abs(float(row[3]) - seed_thr) <= 0.0015 and abs(float(row[4]) - seed_mem) <= 0.0015
    assert compare.rows[0][3] == "1.732" and compare.rows[0][4] == "0.953"  # 822.02 / 474.599, 3.525 / 3.699


def test_grid_table_has_the_seed_columns_and_oom(tmp_path: Path) -> None:
    grid, _ = seed_000()
    (section,) = sections(load_sweep(flexgen_store(tmp_path).sweep_dir).trials)
    table, _, split = section.tables
    columns = ("latency", "throughput", "peak mem")
    assert table.headers == [
        "Num batches",
        "Prompt",
        *(f"{s} {c}" for s in ("Origin", "Diag") for c in columns),
    ]
    first = table.rows[0]
    assert first[:2] == ["4", "128"]
    assert [float(c) for c in first[2:]] == [*grid[("origin", 4, 128)], *grid[("diagonal", 4, 128)]]
    assert table.rows[-1] == ["32", "1024", *["OOM"] * 6]
    oom = [r for r in split.rows if r[3] == "OOM"]
    assert len(oom) == 2 and all(set(r[4:]) == {"OOM"} for r in oom)
    assert len(FLEX_KEYS) == 3 and set(section.figures) == {"flexgen_scale.png"}


def test_projected_column_per_trial(tmp_path: Path) -> None:
    """Every seed-000 log says ``projected: True`` (FlexGen's bench suite runs --cut-gen-len 8)."""
    (section,) = sections(load_sweep(flexgen_store(tmp_path).sweep_dir).trials)
    _, _, split = section.tables
    assert split.headers[-1] == "projected" and split.headers[3] == "status"
    assert {r[-1] for r in split.rows if r[3] == "DONE"} == {"True"}
    assert {r[-1] for r in split.rows if r[3] == "OOM"} == {"OOM"}
    assert "projected: True = FlexGen ran --cut-gen-len tokens" in split.note


def test_projected_false_and_missing(tmp_path: Path) -> None:
    from orchestrator.report.flexgen_compare import projected
    from orchestrator.store.reader import TrialData

    def trial(metrics: dict[str, float]) -> TrialData:
        return TrialData("t", "t", "DONE", None, 1, {"engine": {"name": "flexgen"}}, metrics)

    assert projected(trial({"projected": 0.0})) == "False"
    assert projected(trial({"projected": 1.0})) == "True"
    assert projected(trial({})) == "-"  # a log without the line
