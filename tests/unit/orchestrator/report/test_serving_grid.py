"""Seeds 003/004 report: per-engine tables and the vLLM / TGI ratio from the seeds' own numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from orchestrator.report.build import report
from orchestrator.report.serving_grid import HEADERS, grid, per_token_latencies, sections
from orchestrator.store.reader import load_sweep
from tests.seed_results import grid_store, seed_grid


def _seed_rows(cells: dict[tuple[int, int], list[float]]) -> list[list[str]]:
    return [[str(i), str(o), *(f"{v:.2f}" for v in vals)] for (i, o), vals in sorted(cells.items())]


def test_vllm_vs_tgi_tables_and_ratio(tmp_path: Path) -> None:
    seed = seed_grid("003")
    assert set(seed) == {"vllm", "tgi"} and len(seed["vllm"]) == len(seed["tgi"]) == 16
    sweep = load_sweep(grid_store(tmp_path, "003", "vllm_vs_tgi_awq").sweep_dir)
    assert len(sweep.trials) == 32
    (section,) = sections(sweep.trials)
    vllm, tgi, ratio = section.tables
    assert vllm.title == "vllm" and tgi.title == "tgi" and ratio.title == "Ratio vllm / tgi"
    assert vllm.headers == HEADERS and vllm.align == "center"
    assert vllm.rows == _seed_rows(seed["vllm"])  # e.g. 128, 128, 9.36, 1197.56, 6.31, 12.62
    assert tgi.rows == _seed_rows(seed["tgi"])
    for row in ratio.rows:
        key = (int(row[0]), int(row[1]))
        expected = [f"{a / b:.3f}" for a, b in zip(seed["vllm"][key], seed["tgi"][key], strict=True)]
        assert row[2:] == expected
    assert ratio.rows[0][2] == f"{9.36 / 10.86:.3f}"
    assert set(section.figures) == {"throughput-req.png", "throughput-token-out.png", "pertoken.png",
                                    "per-out-token.png"}  # fmt: skip


def test_vllm_gptq_table_and_files(tmp_path: Path) -> None:
    seed = seed_grid("004")
    assert len(seed["vllm"]) == 15  # the seed has no 2048 x 2048 row
    store = grid_store(tmp_path, "004", "vllm_gptq")
    files = report(load_sweep(store.sweep_dir), Console(quiet=True), mlflow=False)
    assert {f.name for f in files} == {"report.md", "throughput-req.png", "throughput-token-out.png",
                                       "pertoken.png", "per-out-token.png", "report.html"}  # fmt: skip
    (section,) = sections(load_sweep(store.sweep_dir).trials)
    (table,) = section.tables  # one engine: no ratio
    assert table.rows == _seed_rows(seed["vllm"])
    md = (store.sweep_dir / "report" / "report.md").read_text()
    assert "|     128      |      128      |          6.77           |" in md  # the seed's centred layout


def test_per_token_latency_definitions() -> None:
    """latency / (prompt + requested output) and latency / requested output, averaged over requests."""
    df = pd.DataFrame(
        {
            "sent_ns": [0, 0, 0],
            "end_ns": [1_280_000_000, 2_560_000_000, 9_999],
            "input_tokens": [128, 128, 128],
            "ok": [True, True, False],
            "warmup": [False, False, False],
        }
    )
    got = per_token_latencies(df, output_len=128)
    assert got["latency_per_token_avg_ms"] == pytest.approx((1280 / 256 + 2560 / 256) / 2)
    assert got["latency_per_output_token_avg_ms"] == pytest.approx((10 + 20) / 2)


def test_grid_orders_vllm_first(tmp_path: Path) -> None:
    sweep = load_sweep(grid_store(tmp_path, "003", "vllm_vs_tgi_awq").sweep_dir)
    assert list(grid(sorted(sweep.trials, key=lambda t: t.engine_name == "vllm"))) == ["vllm", "tgi"]
