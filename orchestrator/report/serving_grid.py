"""Seeds 003/004 (``vllm_vs_tgi_awq``, ``vllm_gptq``): the input × output throughput grid per engine.

Columns as the seeds print them, from vLLM's ``benchmarks/benchmark_serving.py`` (v0.2.x), where
every request is sent at once and each request's *latency* is request sent → response complete
(here ``end_ns − sent_ns`` of each successful, non-warmup request):

* Throughput (requests/s) = successful requests / (last completion − first send).
* Throughput (output token/s) = output tokens of those requests / the same time.
* Average latency per token (ms) = mean over requests of latency / (prompt_len + output_len).
* Average latency per output token (ms) = mean over requests of latency / output_len.

As in vLLM's script, ``prompt_len`` is the request's prompt token count and ``output_len`` the
requested output length (``workload.output_len``; equal to the produced count with ``ignore_eos``).
A trial that stores ``latency_per_token_avg_ms`` / ``latency_per_output_token_avg_ms`` metrics is
shown with those. The ratio table is engine A / engine B (vLLM / TGI) per cell, both DONE; with
repeats each figure is ``mean ± half-width`` and each ratio carries its interval over the repeats,
``(n.s.)`` where it contains 1 (:mod:`orchestrator.report.intervals`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from orchestrator.config.schema import ReportConfig
from orchestrator.core.load import Strategy
from orchestrator.report.intervals import best, geomean_ratio, interval, note, ratio_cell, value_text
from orchestrator.report.render import Section, Table, log2_axis, new_figure
from orchestrator.store.reader import TrialData

# (metric key, seed column header, plot file, plot title)
COLUMNS = (
    ("request_throughput", "Throughput (requests/s)", "throughput-req.png", "Throughput (Requests/s)"),
    ("output_token_throughput", "Throughput (output token/s)", "throughput-token-out.png",
     "Throughput (Output Token/s)"),
    ("latency_per_token_avg_ms", "Average latency per token (ms)", "pertoken.png",
     "Average Latency Per token/(ms)"),
    ("latency_per_output_token_avg_ms", "Average latency per output token (ms)", "per-out-token.png",
     "Average Latency Per Output Token(ms)"),
)  # fmt: skip
HEADERS = ["Input Length", "Output Length", *(c[1] for c in COLUMNS)]
_NS_PER_MS = 1e6


def applies(trial: TrialData) -> bool:
    return trial.workload.get("name") == Strategy.MAX_THROUGHPUT


def per_token_latencies(requests: pd.DataFrame, output_len: int) -> dict[str, float]:
    """vLLM benchmark_serving's average latency per token and per output token (ms)."""
    if requests.empty:
        return {}
    ok = requests[requests["ok"] & ~requests["warmup"]]
    if ok.empty:
        return {}
    latency_ms = (ok["end_ns"] - ok["sent_ns"]) / _NS_PER_MS
    return {
        "latency_per_token_avg_ms": float((latency_ms / (ok["input_tokens"] + output_len)).mean()),
        "latency_per_output_token_avg_ms": float((latency_ms / output_len).mean()),
    }


def cell_metrics(trial: TrialData) -> dict[str, float]:
    out = dict(trial.metrics)
    if trial.is_aggregate:  # the mean over its repeats of what each repeat's records give
        return {**out, **{key: interval(trial, key, cell_metrics).value for key, *_ in COLUMNS}}
    if "latency_per_token_avg_ms" not in out:
        out.update(per_token_latencies(trial.requests(), int(trial.workload["output_len"])))
    return out


def group_key(trial: TrialData, many_tp: bool) -> str:
    return f"{trial.engine_name} (TP {trial.tp})" if many_tp else trial.engine_name


def grid(trials: Sequence[TrialData]) -> dict[str, dict[tuple[int, int], TrialData]]:
    """engine → (input, output) → trial, engines in order of first appearance (vLLM first)."""
    many_tp = len({t.tp for t in trials}) > 1
    ordered = sorted(trials, key=lambda t: (t.engine_name != "vllm", t.engine_name, t.tp))
    out: dict[str, dict[tuple[int, int], TrialData]] = {}
    for t in ordered:
        cell = (int(t.workload["input_len"]), int(t.workload["output_len"]))
        out.setdefault(group_key(t, many_tp), {})[cell] = t
    return out


def engine_table(name: str, cells: dict[tuple[int, int], TrialData]) -> Table:
    table = Table(name, list(HEADERS), align="center")
    for (i, o), t in sorted(cells.items()):
        if not t.done:
            table.rows.append([str(i), str(o), t.status_text, *("-" for _ in COLUMNS[1:])])
            continue
        table.rows.append([str(i), str(o), *(value_text(t, key, cell_metrics) for key, *_ in COLUMNS)])
    table.note = note(list(cells.values()))
    return table


def ratio_table(a: str, b: str, grids: dict[str, dict[tuple[int, int], TrialData]]) -> Table:
    """``a / b`` per cell and column; a cell where either trial failed shows its status."""
    table = Table(f"Ratio {a} / {b}", list(HEADERS), align="center")
    for key in sorted(set(grids[a]) | set(grids[b])):
        ta, tb = grids[a].get(key), grids[b].get(key)
        if ta is None or tb is None or not ta.done or not tb.done:
            status = next((t.status_text for t in (ta, tb) if t is not None and not t.done), "-")
            table.rows.append([str(key[0]), str(key[1]), *(status for _ in COLUMNS)])
            continue
        cells = [ratio_cell(ta, tb, col, cell_metrics) for col, *_ in COLUMNS]
        table.rows.append([str(key[0]), str(key[1]), *cells])
    table.note = note([t for g in (grids[a], grids[b]) for t in g.values()])
    return table


LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P")
Y_LABELS = {
    "request_throughput": "throughput (requests/s)",
    "output_token_throughput": "throughput (output tokens/s)",
    "latency_per_token_avg_ms": "average latency per token (ms)",
    "latency_per_output_token_avg_ms": "average latency per output token (ms)",
}


def plot(key: str, title: str, grids: dict[str, dict[tuple[int, int], TrialData]]) -> Any:
    """``key`` against input length: one colour per engine, one line style per output length."""
    fig, ax = new_figure()
    colours = {name: f"C{i}" for i, name in enumerate(grids)}
    outputs = sorted({o for cells in grids.values() for _, o in cells})
    for name, cells in grids.items():
        for k, output_len in enumerate(outputs):
            pts = sorted((i, cell_metrics(t).get(key)) for (i, o), t in cells.items()
                         if o == output_len and t.done)  # fmt: skip
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colours[name],
                        linestyle=LINE_STYLES[k % len(LINE_STYLES)], marker=MARKERS[k % len(MARKERS)],
                        label=f"{name}, output {output_len}")  # fmt: skip
    ax.set_title(title)
    ax.set_ylabel(Y_LABELS[key])
    log2_axis(ax, {i for cells in grids.values() for i, _ in cells}, "input length (tokens)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", ncols=max(1, len(grids)), title="engine, output length (tokens)",
                  title_fontsize="small")  # fmt: skip
    return fig


def sections(trials: Sequence[TrialData], cfg: ReportConfig | None = None) -> list[Section]:
    grids = grid(trials)
    model = trials[0].config.get("model", {}).get("name", "")
    tables = [engine_table(name, cells) for name, cells in grids.items()]
    names = list(grids)
    if len(names) >= 2:
        tables.append(ratio_table(names[0], names[1], grids))
    figures = {file: plot(key, title, grids) for key, _header, file, title in COLUMNS}
    return [Section(f"{model}: throughput and latency per token", tables, figures)]


def key_figures(trials: Sequence[TrialData]) -> dict[str, float]:
    """Best output tokens/s per engine and, with two engines, the geometric mean over the cells
    both ran of A / B output tokens/s (the seeds' vLLM / TGI comparison in one number)."""
    grids = grid(trials)
    out: dict[str, float] = {}
    for name, cells in grids.items():
        if (top := best(cells, "output_token_throughput")) is not None:
            out[f"best_output_token_throughput.{_metric_name(name)}"] = top
    names = list(grids)
    if len(names) >= 2:
        a, b = names[0], names[1]
        scale = geomean_ratio(grids[a], grids[b], "output_token_throughput")
        if scale is not None:
            key = f"output_token_throughput_ratio.{_metric_name(a)}_over_{_metric_name(b)}.geomean"
            out[key] = scale
    return out


def _metric_name(group: str) -> str:
    """``vllm (TP 2)`` → ``vllm_tp2``: MLflow metric names take letters, digits, ``_-. /``."""
    return group.replace(" (TP ", "_tp").replace(")", "").replace(" ", "_")
