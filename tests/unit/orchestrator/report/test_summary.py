"""The summary table per kind of trial, the sweep's summary metrics, the HTML page, the grid plots."""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path

import pytest
from rich.console import Console

from engines.standins.fake_trials import make_result, make_trials, write_sweep
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.report import generic
from orchestrator.report.build import report, sweep_metrics
from orchestrator.report.serving_grid import grid, plot
from orchestrator.report.summary import print_summary
from orchestrator.store.reader import load_sweep
from orchestrator.store.results import ResultsStore
from tests.seed_results import flexgen_store, grid_store, tgi_store, trials_of


def _summary(store, trials) -> str:  # type: ignore[no-untyped-def]
    console = Console(file=io.StringIO(), width=250, record=True)
    print_summary(console, store, trials)
    return console.export_text()


def test_flexgen_summary_shows_its_own_figures(tmp_path: Path) -> None:
    text = _summary(flexgen_store(tmp_path), trials_of("flexgen_diagonal"))
    header = next(ln for ln in text.splitlines() if "trial" in ln and "status" in ln)
    for column in ("latency s", "throughput tok/s", "peak GPU GB"):
        assert column in header
    assert "TTFT" not in text
    assert "474.60" in text  # origin, 1 GPU batch, prompt 512: total throughput as stored
    row = next(ln for ln in text.splitlines() if "FAILED(oom)" in ln)
    assert not re.search(r"\d+\.\d\d", row), "an OOM trial shows no numbers"


def test_static_batch_summary_shows_prefill_and_decode(tmp_path: Path) -> None:
    text = _summary(tgi_store(tmp_path), trials_of("tgi_tp_sweep"))
    for column in ("prefill ms", "decode/token ms", "prefill tok/s", "decode tok/s"):
        assert column in text
    assert "TTFT" not in text and "65.65" in text


def test_serving_and_command_trials_get_one_table_each(tmp_path: Path) -> None:
    store, serving = write_sweep(tmp_path, "mixed", ["engine.tp=[1]", "workload.concurrency=[1,4]"])
    (cmd,) = make_trials(tmp_path, "engine=command", "engine.command='{python} x {metrics_file}'",
                         "engine.tp=[1]", "workload.concurrency=[2]")  # fmt: skip
    store.write(cmd, TrialResult(cmd.trial_id, Status.DONE, metrics={"slept_s": 2.5, "tp": 1.0}))
    text = _summary(store, [*serving, cmd])
    assert "sweep mixed · serving" in text and "sweep mixed · command" in text
    serving_part, command_part = text.split("sweep mixed · command")
    assert "TTFT p50 ms" in serving_part and "40.00" in serving_part  # ttft_p50 = 10 × concurrency
    assert "slept_s" in command_part and "2.50" in command_part and "TTFT" not in command_part
    (section,) = generic.sections(load_sweep(store.sweep_dir).trials)
    assert [t.title for t in section.tables] == ["command", "serving"]
    assert section.tables[0].headers[-2:] == ["slept_s", "tp"]


def test_sweep_metrics_and_key_figure(tmp_path: Path) -> None:
    store, _ = write_sweep(tmp_path, "s", ["engine.tp=[1,2]", "workload.concurrency=[1,4]"], failed=1)
    metrics, key = sweep_metrics(load_sweep(store.sweep_dir))
    assert metrics["trials"] == 4 and metrics["trials_done"] == 3 and metrics["trials_failed"] == 1
    assert key == "best_output_token_throughput"
    assert metrics[key] == metrics["key_figure"] == 400.0  # 100 × c / tp at tp 1, c 4
    seed3, key3 = sweep_metrics(load_sweep(grid_store(tmp_path, "003", "vllm_vs_tgi_awq").sweep_dir))
    assert key3 == "output_token_throughput_ratio.vllm_over_tgi.geomean"
    assert 0.9 < seed3[key3] < 1.1 and seed3["best_output_token_throughput.tgi"] == 1458.52
    flex, key0 = sweep_metrics(load_sweep(flexgen_store(tmp_path).sweep_dir))
    assert key0 == "total_throughput_scale.diagonal_over_origin.geomean"
    assert flex["trials_failed"] == 2 and flex[key0] > 1
    tgi, key1 = sweep_metrics(load_sweep(tgi_store(tmp_path).sweep_dir))
    assert key1 == "best_decode_throughput_tok_s" and tgi["best_prefill_throughput_tok_s"] > 0
    assert all(math.isfinite(v) for m in (metrics, seed3, flex, tgi) for v in m.values())


def test_html_page_is_self_contained(tmp_path: Path) -> None:
    store = grid_store(tmp_path, "003", "vllm_vs_tgi_awq")
    files = report(load_sweep(store.sweep_dir), Console(quiet=True), mlflow=False)
    page = files[-1]
    assert page.name == "report.html"
    html = page.read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    assert [name for name, _ in images] == ["throughput-req.png", "throughput-token-out.png", "pertoken.png",
                                            "per-out-token.png"]  # fmt: skip
    for name, data in images:
        assert base64.b64decode(data) == (page.parent / name).read_bytes()
    assert not re.search(r'(src|href)="(?!data:)', html), "nothing to fetch: no other file, no network"
    assert "<th>Throughput (requests/s)</th>" in html and '<td class="num">9.36</td>' in html


def test_grid_plots_colour_per_engine_style_per_output_length(tmp_path: Path) -> None:
    sweep = load_sweep(grid_store(tmp_path, "003", "vllm_vs_tgi_awq").sweep_dir)
    fig = plot("request_throughput", "Throughput (Requests/s)", grid(sweep.trials))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "input length (tokens)" and ax.get_ylabel() == "throughput (requests/s)"
    lines = ax.get_lines()
    assert len(lines) == 8  # 2 engines × 4 output lengths
    by_label = {ln.get_label(): ln for ln in lines}
    for engine in ("vllm", "tgi"):
        assert len({by_label[f"{engine}, output {o}"].get_color() for o in (128, 512, 1024, 2048)}) == 1
    assert by_label["vllm, output 128"].get_color() != by_label["tgi, output 128"].get_color()
    styles = {o: by_label[f"vllm, output {o}"].get_linestyle() for o in (128, 512, 1024, 2048)}
    assert len(set(styles.values())) == 4
    assert all(styles[o] == by_label[f"tgi, output {o}"].get_linestyle() for o in styles)
    assert list(by_label["vllm, output 128"].get_xdata()) == [128, 512, 1024, 2048]
    assert list(by_label["vllm, output 128"].get_ydata()) == [9.36, 3.52, 2.11, 1.14]  # the seed's column


def test_failed_trial_rows_in_the_summary(tmp_path: Path) -> None:
    store, trials = write_sweep(tmp_path, "f", ["engine.tp=[1]", "workload.concurrency=[1,4]"], failed=1)
    store.write(trials[0], make_result(trials[0]))
    text = _summary(store, trials)
    row = next(ln for ln in text.splitlines() if "FAILED(engine_crash)" in ln)
    assert not re.search(r"\d+\.\d\d", row)


def test_repeats_per_kind_summary_report_and_key_figures(tmp_path: Path) -> None:
    """A sweep with repeats beside a command trial: one summary table per kind, the configuration's
    row its aggregate (mean ± half-width, repeats done), the report over the aggregates with the
    cost section, and the key figure from the aggregates' means."""
    from orchestrator.config.schema import StatsConfig
    from orchestrator.report.build import build_sections
    from orchestrator.sweep.aggregate import write_aggregates
    from orchestrator.sweep.repeats import with_repeats

    store = ResultsStore(tmp_path, "rep")
    store.init_sweep({"sweep_id": "rep", "name": "rep", "config": {}})
    serving = with_repeats(make_trials(tmp_path, "engine.tp=[1]", "workload.concurrency=[4]"), 3)
    for t in serving:
        result = make_result(t)
        result.metrics["output_token_throughput"] = 390.0 + 10 * (t.repeat or 0)  # 390, 400, 410
        result.metrics["gpu_seconds_held"] = 30.0 + (t.repeat or 0)
        store.write(t, result)
    (cmd,) = make_trials(tmp_path, "engine=command", "engine.command='{python} x {metrics_file}'",
                         "engine.tp=[1]", "workload.concurrency=[2]")  # fmt: skip
    point = {"co_tenants": 0.0, "gpu_seconds_held": 3.0, "node_cpu_percent": 12.0, "gpu0_energy_j": 9.0}
    store.write(cmd, TrialResult(cmd.trial_id, Status.DONE, metrics={"slept_s": 2.5, **point}))
    trials = [*serving, cmd]
    assert write_aggregates(store, trials, StatsConfig()) == [serving[0].base_id]
    text = _summary(store, trials)
    serving_part, command_part = text.split("sweep rep · command")
    header = next(ln for ln in serving_part.splitlines() if "status" in ln)
    assert "repeats" in header and "TTFT p50 ms" in header
    row = next(ln for ln in serving_part.splitlines() if serving[0].base_id in ln)
    assert "3/3" in row and "400.00 ± " in row and serving[0].trial_id not in serving_part
    assert "slept_s" in command_part and "2.50" in command_part and "TTFT" not in command_part
    assert re.search(rf"{cmd.trial_id}.*│ 1 ", command_part)  # a single run: 1 repeat
    assert not any(k in command_part for k in point), "the tool's own point figures: the cost section"

    sweep = load_sweep(store.sweep_dir)
    sections = build_sections(sweep)
    summary = next(s for s in sections if s.title == "Summary")
    by_title = {t.title: t for t in summary.tables}
    assert set(by_title) == {"serving", "command"} and by_title["command"].headers[5:] == ["slept_s"]
    (agg_row,) = by_title["serving"].rows
    assert agg_row[0] == serving[0].base_id and " ± " in agg_row[-1]
    assert by_title["serving"].note.startswith("value ± half-width") and by_title["command"].note == ""
    cost = next(s for s in sections if s.title == "Cost and co-tenancy")
    cost_row = next(r for r in cost.tables[0].rows if r[0] == serving[0].base_id)
    assert cost_row[2].startswith("31.0 ± ")  # mean of 30, 31, 32 GPU-s held
    assert not any(r[0] in {t.trial_id for t in serving} for r in cost.tables[0].rows)
    metrics, key = sweep_metrics(sweep)
    assert metrics["trials"] == 4 and key == "best_output_token_throughput"
    assert metrics[key] == pytest.approx(400.0)  # the aggregate's mean, not the best repeat
