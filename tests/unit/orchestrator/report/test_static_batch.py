"""Seed 001 report: the seed's tables reproduced from a store of its numbers; stats from samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.report.build import report
from orchestrator.report.static_batch import runs_from_records, tp_tables
from orchestrator.store.reader import load_sweep
from orchestrator.store.results import ResultsStore
from tests.helpers import parse_markdown_table
from tests.seed_results import seed_001, tgi_store, trials_of
from workloads.records import RequestRecord


def carry(rows: list[list[str]]) -> list[list[str]]:
    out, step = [], ""
    for r in rows:
        step = r[0] or step
        out.append([step, *r[1:]])
    return out


def test_tables_reproduce_the_seed(tmp_path: Path) -> None:
    store = tgi_store(tmp_path)
    sweep = load_sweep(store.sweep_dir)
    seed = seed_001()
    assert sorted(seed) == [2, 4, 8]
    for tp, (seed_lat, seed_thr) in seed.items():
        lat, thr, _ = tp_tables([t for t in sweep.trials if t.tp == tp], tp)
        assert lat.headers == ["Step", "Batch Size", "Average", "Lowest", "Highest", "p50", "p90", "p99"]
        assert thr.headers == ["Step", "Batch Size", "Average", "Lowest", "Highest"]
        assert carry(lat.rows) == seed_lat  # e.g. ["Prefill", "1", "65.65 ms", "62.84 ms", ...]
        assert carry(thr.rows) == seed_thr  # e.g. ["Decode", "32", "500.37 tokens/secs", ...]
        assert lat.rows[1][0] == "" and lat.rows[6][0] == "Decode (token)"  # merged cells, as in the seed


def test_report_files_and_markdown(tmp_path: Path) -> None:
    store = tgi_store(tmp_path)
    files = report(load_sweep(store.sweep_dir), Console(quiet=True), mlflow=False)
    md = (store.sweep_dir / "report" / "report.md").read_text()
    assert "## Tensor Parallel (TP) - 2 GPUs" in md and "| Prefill        | 1          | 65.65 ms" in md
    assert (store.sweep_dir / "report" / "throughput_vs_batch.png").read_bytes()[:4] == b"\x89PNG"
    assert {f.name for f in files} == {"report.md", "throughput_vs_batch.png", "report.html"}
    args = dict(
        r[:2] for r in parse_markdown_table(md.split("### Deployment Arguments", 1)[1].split("###")[0])
    )
    assert args["model_id"] == "bigscience/bloomz-7b1-mt" and args["max_batch_total_tokens"] == "32000"
    assert args["waiting_served_ratio"] == "1.2"
    assert "shard_uds_path" not in args and "master_port" not in args  # TGI's defaults: null, per instance
    gen = dict(r[:2] for r in parse_markdown_table(md.split("### Experiment Generation Arguments", 1)[1]))
    assert (gen["Sequence Length"], gen["Decode Length"], gen["N Runs"], gen["Warmups"]) == (
        "100",
        "100",
        "10",
        "1",
    )
    assert gen["Do Sample"] == "false" and gen["Temperature"] == "None"
    first = md.split("## Tensor Parallel (TP) - 4 GPUs")[1]
    assert parse_markdown_table(first.split("\n\n")[1])[0][2] == "65.38 ms"


def _records(runs: list[tuple[float, float]], batch: int, decode: int) -> list[dict[str, object]]:
    """Requests of a static batch whose runs have the given (prefill ms, decode total ms)."""
    rows, t0 = [], 1_000_000_000
    for step, (prefill, total) in enumerate([(500.0, 900.0), *runs]):  # a warmup run first
        first = t0 + int(prefill * 1e6)
        times = [first + int(total * 1e6 * k / (decode - 1)) for k in range(decode)]
        for i in range(batch):
            rec = RequestRecord(step * batch + i, t0, t0, times[-1], times, 100, decode, True, step=step)
            rec.warmup = step == 0
            rows.append(rec.to_dict())
        t0 = times[-1] + 1000
    return rows


def test_stats_from_per_run_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    prefill = rng.uniform(60, 80, 10).round(3)
    total = rng.uniform(4200, 4500, 10).round(3)
    batch, decode = 4, 100
    rows = _records(list(zip(prefill, total, strict=True)), batch, decode)
    runs = runs_from_records(rows)
    assert len(runs) == 10 and all(r is not None for r in runs)

    trial = next(t for t in trials_of("tgi_tp_sweep") if t.tp == 2 and t.point.batch_size == batch)
    store = ResultsStore(tmp_path, "samples")
    store.write(trial, TrialResult(trial.trial_id, Status.DONE, metrics={}, records=rows))
    lat, thr, stats = tp_tables(load_sweep(store.sweep_dir).trials, 2)
    for metric, samples in (
        ("prefill_latency", prefill),
        ("decode_total_latency", total),
        ("decode_token_latency", total / (decode - 1)),
    ):
        expected = [samples.mean(), samples.min(), samples.max(), *np.percentile(samples, [50, 90, 99])]
        got = [stats[batch][f"{metric}_{s}_ms"] for s in ("avg", "min", "max", "p50", "p90", "p99")]
        assert got == pytest.approx(expected, abs=1e-5)
    thr_samples = batch / (prefill / 1e3)
    assert stats[batch]["prefill_throughput_min"] == pytest.approx(thr_samples.min(), rel=1e-6)
    row = lat.rows[0]
    assert row[:2] == ["Prefill", "4"] and row[2] == f"{prefill.mean():.2f} ms"
    assert row[7] == f"{np.percentile(prefill, 99):.2f} ms"
    assert thr.rows[1] == ["Decode", "4", *(f"{v:.2f} tokens/secs" for v in (
        (batch * (decode - 1) / (total / 1e3)).mean(), (batch * (decode - 1) / (total / 1e3)).min(),
        (batch * (decode - 1) / (total / 1e3)).max()))]  # fmt: skip


def test_failed_batch_shows_status_not_numbers(tmp_path: Path) -> None:
    from orchestrator.core.status import FailureReason

    trial = next(t for t in trials_of("tgi_tp_sweep") if t.tp == 8 and t.point.batch_size == 32)
    store = ResultsStore(tmp_path, "oom")
    store.write(trial, TrialResult(trial.trial_id, Status.FAILED, FailureReason.OOM, "oom"))
    lat, thr, _ = tp_tables(load_sweep(store.sweep_dir).trials, 8)
    assert lat.rows[0] == ["Prefill", "32", "OOM", "-", "-", "-", "-", "-"]
    assert thr.rows[0] == ["Prefill", "32", "OOM", "-", "-"]
