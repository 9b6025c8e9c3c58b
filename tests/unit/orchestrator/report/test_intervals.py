"""Reports with repeats: value ± half-width, ratios with their interval, (n.s.) when not significant;
single runs keep their plain figures; compare.ratios over a comparison frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestrator.report import flexgen_compare, generic, serving_grid
from orchestrator.report.intervals import ratio, ratio_cell, value_text
from orchestrator.store.reader import TrialData
from orchestrator.tracking import compare
from workloads.stats import bootstrap_ci, ratio_ci, ratio_text, significant

CI = {"level": 0.95, "seed": 0, "resamples": 10000}


def run(tid: str, engine: str, values: dict[str, float], cfg: dict | None = None) -> TrialData:
    config = cfg or {"engine": {"name": engine}, "workload": {"name": "max_throughput", "input_len": 8,
                                                             "output_len": 16}}  # fmt: skip
    return TrialData(tid, f"{engine}-{tid}", "DONE", None, 1, config, values)


def agg(tid: str, engine: str, key: str, values: list[float], cfg: dict | None = None) -> TrialData:
    members = tuple(run(f"{tid}{i}", engine, {key: v}, cfg) for i, v in enumerate(values))
    mean = sum(values) / len(values)
    result = {"aggregate": True, "config_id": tid, "ci": CI, "repeats": {"n": len(values)}}
    base = run(tid, engine, {key: mean}, cfg)
    return TrialData(
        tid, base.name, "DONE", None, 1, base.config, {key: mean}, result=result, members=members
    )


def test_value_text() -> None:
    single = run("a", "vllm", {"ttft_p50_ms": 12.345})
    assert value_text(single, "ttft_p50_ms") == "12.35" and value_text(single, "x") == "-"
    a = agg("b", "vllm", "ttft_p50_ms", [10.0, 12.0, 14.0])
    iv = bootstrap_ci([10.0, 12.0, 14.0])
    assert value_text(a, "ttft_p50_ms") == f"12.00 ± {iv.half_width:.2f}"


def test_ratio_cells_and_significance() -> None:
    key = "request_throughput"
    fast, slow = agg("f", "vllm", key, [20.0, 21.0, 20.5]), agg("s", "tgi", key, [10.0, 10.4, 9.8])
    iv = ratio(fast, slow, key)
    assert iv == ratio_ci([20.0, 21.0, 20.5], [10.0, 10.4, 9.8]) and significant(iv)
    assert ratio_cell(fast, slow, key) == f"{iv.value:.3f} ± {iv.half_width:.3f}"
    same = agg("t", "tgi", key, [19.0, 22.0, 20.0])
    assert ratio_cell(fast, same, key).endswith("(n.s.)")
    assert ratio_cell(run("a", "vllm", {key: 3.0}), run("b", "tgi", {key: 2.0}), key) == "1.500"
    assert ratio_text(ratio_ci([1.0], [0.0])) == "-"


def test_seed_reports_show_intervals() -> None:
    key = "request_throughput"
    trials = [agg("f", "vllm", key, [20.0, 21.0, 20.5]), agg("s", "tgi", key, [19.0, 22.0, 20.0])]
    (section,) = serving_grid.sections(trials)
    vllm, _tgi, ratios = section.tables
    assert " ± " in vllm.rows[0][2] and vllm.note.startswith("value ± half-width of the 95% bootstrap")
    assert ratios.rows[0][2].endswith("(n.s.)")
    (summary,) = generic.sections(trials)
    assert " ± " in summary.tables[0].rows[0][5 + 5]  # req/s column
    diag = {"module": "flexgen.flex_opt_diag", "num_gpu_batches": 1}
    cfg = {"engine": {"name": "flexgen", "flexgen": diag}, "workload": {"input_len": 64}}
    origin = {"engine": {"name": "flexgen", "flexgen": {"num_gpu_batches": 1}}, "workload": {"input_len": 64}}
    fg = [agg("d", "flexgen", "total_throughput_tok_s", [30.0, 31.0, 30.5], cfg),
          agg("o", "flexgen", "total_throughput_tok_s", [10.0, 10.2, 9.9], origin)]  # fmt: skip
    (fsec,) = flexgen_compare.sections(fg)
    compare_scale = fsec.tables[1]
    assert " ± " in compare_scale.rows[0][3] and "(n.s.)" not in compare_scale.rows[0][3]


def test_compare_ratios_over_the_frame() -> None:
    rows = []
    for engine, values in (("vllm", [20.0, 21.0, 20.5]), ("tgi", [10.0, 10.4, 9.8])):
        for i, v in enumerate(values):
            rows.append({"engine": engine, "workload": "c4", "tp": 1, "aggregate": False, "repeat": i,
                         "metrics.request_throughput": v})  # fmt: skip
    rows.append({"engine": "vllm", "workload": "c4", "tp": 1, "aggregate": True, "repeat": None,
                 "metrics.request_throughput": 99.0})  # fmt: skip
    df = pd.DataFrame(rows)
    c = compare.compare(df, "request_throughput", {"engine": "vllm"}, {"engine": "tgi"})
    assert (c.n_a, c.n_b) == (3, 3) and c.significant and c.p_value == 0.1  # exact: 2 of 20 labellings
    assert c.ratio == ratio_ci([20.0, 21.0, 20.5], [10.0, 10.4, 9.8])
    table = compare.ratios(df, "request_throughput", "engine", "vllm", "tgi")
    assert list(table["workload"]) == ["c4"] and bool(table["significant"][0])
    assert table["text"][0] == c.text()


def test_frame_has_repeat_columns(tmp_path: Path) -> None:
    assert compare.frame([]).empty
    df = compare.frame(
        [compare._row("n", {"trial_id": "a", "tp": "1", "repeat": "2", "config_id": "c"}, {}, {})]
    )
    assert df["repeat"][0] == 2 and df["config_id"][0] == "c" and not df["aggregate"][0]
