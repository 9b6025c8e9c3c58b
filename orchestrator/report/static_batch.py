"""Seed 001 (``tgi_tp_sweep``): text-generation-benchmark's latency and throughput tables per TP.

Per batch size, the statistics are computed here from the per-run samples: each measured run's
records (``requests.parquet``, ``step`` = run index, warmups marked) give one
:class:`workloads.static_batch.BatchRun` (prefill, decode (token), decode (total), throughputs);
average, lowest, highest and p50/p90/p99 over the runs. Without stored records the trial's own
``<metric>_<stat>`` values are shown (computed at run time by linear interpolation).

Percentiles follow ``report.percentiles`` (``--percentiles``; :mod:`workloads.percentiles`):
``linear`` (default) interpolates over the sorted runs; ``tgi_benchmark`` is text-generation-
benchmark's ``data[int(p/100·n)]`` over the runs in run order, which is why the seed has p90 < p50
in places and p90 == p99 with 10 runs. A note under each latency table names the rule used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.config.schema import ReportConfig
from orchestrator.core.load import Strategy
from orchestrator.core.percentile_rules import RULE_NOTES, PercentileRule, parse_rule
from orchestrator.report.intervals import note, ratio_cell
from orchestrator.report.render import Section, Table, fmt, log2_axis, new_figure
from orchestrator.store.reader import TrialData
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
    return trial.workload.get("name") == Strategy.STATIC_BATCH


def runs_from_records(rows: Sequence[dict[str, Any]]) -> list[BatchRun | None]:
    """The measured runs of one trial, in run order, from its stored records.

    Decode steps and tokens are the ones each request produced (its ``output_tokens``), as
    :func:`workloads.static_batch.batch_run` measures them, not the requested length.
    """
    by_run: dict[int, list[RequestRecord]] = {}
    for row in rows:
        if row.get("warmup"):
            continue
        rec = RequestRecord(**{**row, "token_times_ns": [int(t) for t in row["token_times_ns"]]})
        by_run.setdefault(int(rec.step), []).append(rec)
    return [batch_run(recs, min(r.sent_ns for r in recs)) for _, recs in sorted(by_run.items())]


def trial_stats(trial: TrialData, rule: PercentileRule = PercentileRule.linear) -> dict[str, float]:
    """``<metric>_<stat>`` for every BatchRun metric: from the per-run samples (in run order,
    percentiles by ``rule``) when stored, else the trial's stored metrics."""
    df = trial.requests()
    if df.empty:
        return dict(trial.metrics)
    runs = [r for r in runs_from_records(df.to_dict("records")) if r]
    out: dict[str, float] = {}
    for name in (*(m for _, m in LATENCY_STEPS), *(m for _, m in THROUGHPUT_STEPS)):
        key = name.removesuffix("_ms")
        stats = batch_stats([getattr(r, name) for r in runs], key, rule)
        out.update({f"{k}_ms" if name.endswith("_ms") else k: v for k, v in stats.items()})
    return out


def _stat(stats: dict[str, float], metric: str, stat: str) -> float | None:
    base = metric.removesuffix("_ms")
    return stats.get(f"{base}_{stat}_ms" if metric.endswith("_ms") else f"{base}_{stat}")


def rule_note(rule: PercentileRule, from_samples: bool) -> str:
    """The line under a latency table saying which rule produced its p50/p90/p99."""
    if from_samples:
        return f"p50/p90/p99: {RULE_NOTES[rule]} (report.percentiles={rule})."
    text = f"p50/p90/p99: as the trials stored them, {RULE_NOTES[PercentileRule.linear]}"
    if rule is not PercentileRule.linear:
        text += f" (no per-run records to apply report.percentiles={rule})"
    return text + "."


def tp_tables(
    trials: Sequence[TrialData], tp: int, rule: str | PercentileRule = PercentileRule.linear
) -> tuple[Table, Table, dict[int, dict[str, float]]]:
    """The latency and throughput tables of one TP, and the stats per batch size (DONE trials)."""
    rule = parse_rule(rule)
    by_batch = sorted((int(t.workload["batch_size"]), t) for t in trials)
    stats = {b: trial_stats(t, rule) for b, t in by_batch if t.done}
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
    samples = [t for _, t in by_batch if t.done]
    lat.note = rule_note(rule, bool(samples) and all(t.dir and (t.dir / "requests.parquet").exists()
                                                     for t in samples))  # fmt: skip
    return lat, thr, stats


def arguments_section(first: TrialData) -> Section:
    """The seed's "Deployment Arguments" (engine options set) and "Experiment Generation Arguments"."""
    engine = first.engine
    options = engine.get(first.engine_name, {}) if isinstance(engine.get(first.engine_name), dict) else {}
    deploy = Table("Deployment Arguments", ["Argument", "Value"])
    deploy.rows = [["model_id", str(first.config.get("model", {}).get("path"))]]
    deploy.rows += [[k, str(v)] for k, v in options.items() if v not in (None, False, [])]
    w = first.workload
    temperature = w.get("temperature")
    generation = Table("Experiment Generation Arguments", ["Parameter", "Value"])
    generation.rows = [
        ["Model", str(first.config.get("model", {}).get("name"))],
        ["Sequence Length", str(w.get("input_len"))],
        ["Decode Length", str(w.get("output_len"))],
        ["N Runs", str(w.get("runs"))],
        ["Warmups", str(w.get("warmups"))],
        ["Temperature", "None" if not temperature else str(temperature)],
        ["Do Sample", str(bool(temperature)).lower()],
    ]
    return Section(f"{first.engine_name}: arguments", [deploy, generation])


def tp_scaling(trials: Sequence[TrialData], rule: PercentileRule) -> Table:
    """Average prefill and decode throughput of each larger TP over the smallest, per batch size
    (with repeats: the ratio's interval over them, ``(n.s.)`` where it contains 1)."""
    tps = sorted({t.tp for t in trials})
    cells = {(t.tp, int(t.workload["batch_size"])): t for t in trials}
    table = Table(f"TP scaling: throughput vs TP {tps[0]}", ["TP", "Batch Size", "Prefill", "Decode"])
    for tp in tps[1:]:
        for b in sorted({b for _, b in cells}):
            a, base = cells.get((tp, b)), cells.get((tps[0], b))
            if a is None or base is None or not a.done or not base.done:
                status = next((t.status_text for t in (a, base) if t is not None and not t.done), "-")
                table.rows.append([str(tp), str(b), status, status])
                continue
            ratios = [
                ratio_cell(a, base, f"{m}_avg", lambda t: trial_stats(t, rule)) for _, m in THROUGHPUT_STEPS
            ]
            table.rows.append([str(tp), str(b), *ratios])
    table.note = note(trials)
    return table


def sections(trials: Sequence[TrialData], cfg: ReportConfig | None = None) -> list[Section]:
    rule = parse_rule((cfg or ReportConfig()).percentiles)
    tps = sorted({t.tp for t in trials})
    out: list[Section] = [arguments_section(trials[0])]
    plot: dict[int, dict[int, dict[str, float]]] = {}
    for tp in tps:
        group = [t for t in trials if t.tp == tp]
        lat, thr, stats = tp_tables(group, tp, rule)
        lat.title, thr.title = "", ""
        out.append(Section(f"Tensor Parallel (TP) - {tp} GPUs", [lat, thr]))
        plot[tp] = stats
    if len(tps) > 1:
        out.append(Section("TP scaling", [tp_scaling(trials, rule)]))
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


def key_figures(trials: Sequence[TrialData]) -> dict[str, float]:
    """The best average decode and prefill throughput (tokens/s) over the batch sizes and TPs."""
    out: dict[str, float] = {}
    for step, metric in reversed(THROUGHPUT_STEPS):  # decode first: the sweep's key figure
        values = [v for t in trials if t.done and (v := t.metrics.get(f"{metric}_avg")) is not None]
        if values:
            out[f"best_{step.lower()}_throughput_tok_s"] = max(values)
    return out
