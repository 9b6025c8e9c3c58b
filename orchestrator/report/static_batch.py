"""Seed 001 (``tgi_tp_sweep``): text-generation-benchmark's latency and throughput tables per TP.

Per batch size, the statistics are computed here from the per-run samples: each measured run's
records (``requests.parquet``, ``step`` = run index, warmups marked) give one
:class:`workloads.static_batch.BatchRun` (prefill, decode (token), decode (total), throughputs);
average, lowest, highest and p50/p90/p99 (numpy linear interpolation) over the runs. Without stored
records the trial's own ``<metric>_<stat>`` values are shown. text-generation-benchmark itself
indexes the *unsorted* samples for its percentiles, which is why the seed has p90 < p50 in places.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.report.load import TrialData
from orchestrator.report.render import Section, Table, fmt, log2_axis, new_figure
from workloads.records import RequestRecord
from workloads.static_batch import BATCH_STATS, BatchRun, batch_run, batch_stats

LATENCY_STEPS = (
    ("Prefill", "prefill_latency_ms"),
    ("Decode (token)", "decode_token_latency_ms"),
    ("Decode (total)", "decode_total_latency_ms"),
)
THROUGHPUT_STEPS = (("Prefill", "prefill_throughput"), ("Decode", "decode_throughput"))
LATENCY_HEADERS = ["Step", "Batch Size", "Average", "Lowest", "Highest", "p50", "p90", "p99"]
THROUGHPUT_HEADERS = ["Step", "Batch Size", "Average", "Lowest", "Highest"]


def applies(trial: TrialData) -> bool:
    return trial.workload.get("name") == "static_batch"


def runs_from_records(rows: Sequence[dict[str, Any]], decode_len: int) -> list[BatchRun | None]:
    """The measured runs of one trial, in run order, from its stored records."""
    by_run: dict[int, list[RequestRecord]] = {}
    for row in rows:
        if row.get("warmup"):
            continue
        rec = RequestRecord(**{**row, "token_times_ns": [int(t) for t in row["token_times_ns"]]})
        by_run.setdefault(int(rec.step), []).append(rec)
    return [batch_run(recs, min(r.sent_ns for r in recs), decode_len) for _, recs in sorted(by_run.items())]


def trial_stats(trial: TrialData) -> dict[str, float]:
    """``<metric>_<stat>`` for every BatchRun metric: from the per-run samples when stored."""
    df = trial.requests()
    if df.empty:
        return dict(trial.metrics)
    runs = [r for r in runs_from_records(df.to_dict("records"), int(trial.workload["output_len"])) if r]
    out: dict[str, float] = {}
    for name in (*(m for _, m in LATENCY_STEPS), *(m for _, m in THROUGHPUT_STEPS)):
        key = name.removesuffix("_ms")
        stats = batch_stats([getattr(r, name) for r in runs], key)
        out.update({f"{k}_ms" if name.endswith("_ms") else k: v for k, v in stats.items()})
    return out


def _stat(stats: dict[str, float], metric: str, stat: str) -> float | None:
    base = metric.removesuffix("_ms")
    return stats.get(f"{base}_{stat}_ms" if metric.endswith("_ms") else f"{base}_{stat}")


def tp_tables(trials: Sequence[TrialData], tp: int) -> tuple[Table, Table, dict[int, dict[str, float]]]:
    """The latency and throughput tables of one TP, and the stats per batch size (DONE trials)."""
    by_batch = sorted((int(t.workload["batch_size"]), t) for t in trials)
    stats = {b: trial_stats(t) for b, t in by_batch if t.done}
    lat = Table(f"Tensor Parallel (TP) - {tp} GPUs: latency", list(LATENCY_HEADERS))
    thr = Table(f"Tensor Parallel (TP) - {tp} GPUs: throughput", list(THROUGHPUT_HEADERS))
    layouts = ((lat, LATENCY_STEPS, "ms", 6), (thr, THROUGHPUT_STEPS, "tokens/secs", 3))
    for table, steps, unit, nstats in layouts:
        for step, metric in steps:
            for i, (b, t) in enumerate(by_batch):
                label = step if i == 0 else ""
                if not t.done:
                    table.rows.append([label, str(b), t.status_text, *("-" for _ in range(nstats - 1))])
                    continue
                cells = [fmt(_stat(stats[b], metric, s), unit) for s in BATCH_STATS[:nstats]]
                table.rows.append([label, str(b), *cells])
    return lat, thr, stats


def sections(trials: Sequence[TrialData]) -> list[Section]:
    tps = sorted({t.tp for t in trials})
    out: list[Section] = []
    plot: dict[int, dict[int, dict[str, float]]] = {}
    for tp in tps:
        group = [t for t in trials if t.tp == tp]
        lat, thr, stats = tp_tables(group, tp)
        lat.title, thr.title = "", ""
        first = group[0]
        note = (f"engine {first.engine_name}, model {first.config.get('model', {}).get('name')}, "
                f"sequence {first.workload.get('input_len')}, decode {first.workload.get('output_len')}, "
                f"{first.workload.get('runs')} runs, {first.workload.get('warmups')} warmup(s)")  # fmt: skip
        out.append(Section(f"Tensor Parallel (TP) - {tp} GPUs", [lat, thr], notes=[note]))
        plot[tp] = stats
    fig, axes = new_figure(2)
    for ax, (step, metric) in zip(axes, THROUGHPUT_STEPS, strict=True):
        for tp, stats in plot.items():
            xs = sorted(stats)
            ax.plot(xs, [_stat(stats[b], metric, "avg") for b in xs], marker="o", label=f"TP {tp}")
        ax.set(ylabel="tokens/s", title=f"{step} throughput (average)")
        log2_axis(ax, {b for s in plot.values() for b in s}, "batch size")
        ax.legend()
    out.append(Section("Throughput vs batch size", figures={"throughput_vs_batch.png": fig}))
    return out
