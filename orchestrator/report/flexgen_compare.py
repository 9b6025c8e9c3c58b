"""Seed 000 (``flexgen_diagonal``): FlexGen original vs diagonal schedule, and the Compare Scale.

A trial's schedule is ``diagonal`` when its ``engine.flexgen.module`` or ``command`` contains
``diag``, else ``origin``. Cells are keyed by (num-gpu-batches, prompt length). The Compare Scale
is diagonal / origin per metric; a cell where either run ran out of memory shows ``OOM`` (another
failure ``FAILED(<reason>)``), never 0 or a ratio. The per-trial table has FlexGen's
``projected`` flag: ``True`` when it generated ``--cut-gen-len`` tokens and extrapolated the decode
latency to ``--gen-len`` (as every run of seed 000 did: its bench suite cuts at 8).
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.config.schema import ReportConfig
from orchestrator.report.intervals import best, geomean_ratio, note, ratio, ratio_cell, value_text
from orchestrator.report.render import Section, Table, log2_axis, new_figure
from orchestrator.store.reader import TrialData

METRICS = (("total_latency_s", "latency"), ("total_throughput_tok_s", "throughput"),
           ("peak_gpu_mem_gb", "peak mem"))  # fmt: skip
SPLIT = (
    ("prefill_latency_s", "prefill latency (s)"),
    ("prefill_throughput_tok_s", "prefill throughput (token/s)"),
    ("decode_latency_s", "decode latency (s)"),
    ("decode_throughput_tok_s", "decode throughput (token/s)"),
    ("total_latency_s", "total latency (s)"),
    ("total_throughput_tok_s", "total throughput (token/s)"),
    ("peak_gpu_mem_gb", "peak gpu mem (GB)"),
)
Key = tuple[int, int]


def applies(trial: TrialData) -> bool:
    return trial.engine_name == "flexgen"


def schedule(trial: TrialData) -> str:
    f = trial.engine.get("flexgen", {})
    text = f"{f.get('module') or ''} {f.get('command') or ''}"
    return "diagonal" if "diag" in text.lower() else "origin"


def key(trial: TrialData) -> Key:
    return int(trial.engine.get("flexgen", {}).get("num_gpu_batches", 1)), int(trial.workload["input_len"])


def cells(trials: Sequence[TrialData]) -> dict[str, dict[Key, TrialData]]:
    out: dict[str, dict[Key, TrialData]] = {"origin": {}, "diagonal": {}}
    for t in trials:
        out[schedule(t)][key(t)] = t
    return out


def _value(t: TrialData | None, metric: str) -> str:
    if t is None:
        return "-"
    return value_text(t, metric, digits=3) if t.done else t.status_text


def projected(t: TrialData) -> str:
    """FlexGen's ``projected`` flag as it printed it (``True``/``False``), ``-`` if not printed."""
    if not t.done:
        return t.status_text
    value = t.metrics.get("projected")
    return "-" if value is None else str(bool(value))


def scale(origin: TrialData | None, diag: TrialData | None, metric: str) -> str:
    """diagonal / origin, or the status of the run that failed (OOM first)."""
    if origin is None or diag is None:
        return "-"
    failed = [t for t in (diag, origin) if not t.done]
    if failed:
        return next((t.status_text for t in failed if t.status_text == "OOM"), failed[0].status_text)
    return ratio_cell(diag, origin, metric)


def sections(trials: Sequence[TrialData], cfg: ReportConfig | None = None) -> list[Section]:
    c = cells(trials)
    keys = sorted(set(c["origin"]) | set(c["diagonal"]))
    per_schedule = [f"{s} {label}" for s in ("Origin", "Diag") for _, label in METRICS]
    grid = Table("Different Prompt length", ["Num batches", "Prompt", *per_schedule])
    compare = Table("Compare Scale", ["Num batches", "Prompt", *(label for _, label in METRICS)])
    for k in keys:
        o, d = c["origin"].get(k), c["diagonal"].get(k)
        grid.rows.append([str(k[0]), str(k[1]), *(_value(o, m) for m, _ in METRICS),
                          *(_value(d, m) for m, _ in METRICS)])  # fmt: skip
        compare.rows.append([str(k[0]), str(k[1]), *(scale(o, d, m) for m, _ in METRICS)])
    split = Table("Per trial: prefill / decode", ["schedule", "num batches", "prompt", "status",
                                                  *(label for _, label in SPLIT), "projected"])  # fmt: skip
    for sched in ("origin", "diagonal"):
        for k in sorted(c[sched]):
            t = c[sched][k]
            split.rows.append([sched, str(k[0]), str(k[1]), t.status_text, *(_value(t, m) for m, _ in SPLIT),
                               projected(t)])  # fmt: skip
    fig, axes = new_figure(2)
    for sched, style in (("origin", "--"), ("diagonal", "-")):
        for nb in sorted({k[0] for k in keys}):
            pts = sorted((k[1], t.metrics["total_throughput_tok_s"]) for k, t in c[sched].items()
                         if k[0] == nb and t.done and "total_throughput_tok_s" in t.metrics)  # fmt: skip
            if pts:
                axes[0].plot(*zip(*pts, strict=True), style, marker="o", label=f"{sched} nb={nb}")
    axes[0].set(ylabel="token/s", title="total throughput")
    log2_axis(axes[0], {k[1] for k in keys}, "prompt length")
    axes[0].legend(fontsize="small")
    for nb in sorted({k[0] for k in keys}):
        pts = []
        for k in keys:
            o, d = c["origin"].get(k), c["diagonal"].get(k)
            if k[0] == nb and o is not None and d is not None and o.done and d.done:
                value = ratio(d, o, "total_throughput_tok_s").value
                if value == value:  # not NaN
                    pts.append((k[1], value))
        if pts:
            axes[1].plot(*zip(*pts, strict=True), marker="o", label=f"nb={nb}")
    axes[1].set(title="throughput scale (diagonal / origin)")
    log2_axis(axes[1], {k[1] for k in keys}, "prompt length")
    axes[1].legend(fontsize="small")
    text = "OOM: the run ran out of GPU memory (no numbers); scale = diagonal / origin."
    compare.note = note(trials)
    split.note = (
        "projected: True = FlexGen ran --cut-gen-len tokens and extrapolated the decode latency "
        "to the full gen len (flex_opt.py: projected = bool(debug_mode or cut_gen_len))."
    )
    figures = {"flexgen_scale.png": fig}
    return [Section("FlexGen: origin vs diagonal", [grid, compare, split], figures, [text])]


def key_figures(trials: Sequence[TrialData]) -> dict[str, float]:
    """The best total throughput per schedule and the geometric mean over the cells both ran of
    diagonal / origin total throughput (seed 000's "Compare Scale" in one number)."""
    c = cells(trials)
    out: dict[str, float] = {}
    for sched, runs in c.items():
        if (top := best(runs, "total_throughput_tok_s")) is not None:
            out[f"best_total_throughput_tok_s.{sched}"] = top
    scale = geomean_ratio(c["diagonal"], c["origin"], "total_throughput_tok_s")
    if scale is not None:
        out["total_throughput_scale.diagonal_over_origin.geomean"] = scale
    return out
