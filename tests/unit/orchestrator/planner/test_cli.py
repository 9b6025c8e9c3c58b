"""``python -m orchestrator +exp=planner_vs_wlb`` in-process: output, report files, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engines.registry import registry
from orchestrator.cli.app import main
from orchestrator.config.planner import BatchConfig, PlannerConfig, SequenceRun
from orchestrator.config.store import group_options, load_experiment
from orchestrator.config.validate import validate_planner
from orchestrator.core.errors import ConfigError
from orchestrator.planner.model import LatencyModel
from orchestrator.sweep.checks import validate
from orchestrator.sweep.placement import planned_nodes

PRESET = "+exp=planner_vs_wlb"


def test_preset_composes_with_the_seed_batches() -> None:
    assert "planner_vs_wlb" in group_options("exp")
    cfg = load_experiment([PRESET])
    validate(cfg, registry().keys(), planned_nodes(cfg.resources))
    assert cfg.kind == "planner"
    got = [(b.gpus, [(r.length, r.count) for r in b.sequences]) for b in cfg.planner.batches]
    assert got == [
        (16, [(32768, 1), (1024, 1)]),
        (16, [(32768, 1), (1024, 32)]),
        (36, [(65536, 1), (2048, 32)]),
    ]
    assert load_experiment([]).kind == "serving"


def test_cli_prints_seed_format_and_ratio_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([PRESET, f"results_dir={tmp_path}", "sweep_id=plan1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = out.strip().splitlines()
    ratio = float(lines[-1])
    assert ratio >= 1.0
    assert "WLB LLM[TP=8, CP=2, DP=2]: (36 GPU, actually used 32 GPU)" in out
    assert out.count("Ours: (") == 3
    for block in out.split("## batch")[1:]:  # ours comes after every baseline of its batch
        assert block.rindex("\nWLB LLM[") < block.index("\nOurs: (")
    report = tmp_path / "plan1" / "report"
    doc = json.loads((report / "planner_vs_wlb.json").read_text())
    assert doc["ratio_geomean"] == pytest.approx(ratio, abs=1e-4)
    for b in doc["batches"]:
        assert b["ratio"] >= 1.0
        assert b["ours"]["used_gpus"] <= b["gpus"]
        assert all(b["ours"]["max_latency_ms"] <= p["max_latency_ms"] for p in b["baselines"])
    assert "| batch |" in (report / "planner_vs_wlb.md").read_text()
    assert json.loads((tmp_path / "plan1" / "sweep.json").read_text())["kind"] == "planner"


def test_cli_with_a_user_calibration_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = LatencyModel(attn=0.05, linear=1.2, tp_comm=0.3, cp_comm=0.2, tp_step=0.1, cp_step=0.1, fixed=0.1)
    points = [
        {"seq_len": s, "tp": t, "cp": c, "latency_ms": ref.seq_latency(s, t, c)}
        for s in (1024, 8192, 32768)
        for t, c in ((1, 1), (4, 1), (1, 4), (2, 2))
    ]
    table = tmp_path / "table.yaml"
    table.write_text(yaml.safe_dump({"unit": "ms", "points": points}))
    rc = main(
        [PRESET, f"results_dir={tmp_path}", f"planner.calibration_path={table}", "planner.search=exact"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert str(table) in out and float(out.strip().splitlines()[-1]) >= 1.0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("planner.search=nope", "planner.search"),
        ("planner.batches=[]", "planner.batches"),
        ("planner.tp_sizes=[0]", "planner.tp_sizes"),
        ("planner.cp_sizes=[2,4]", "planner.cp_sizes"),
        ("planner.exact_max_work=0", "planner.exact_max_work"),
        ("planner.calibration_path=/nonexistent/table.yaml", "planner.calibration_path"),
        ("kind=nope", "kind"),
        ("planner.nope=1", "planner.nope"),
    ],
)
def test_bad_planner_config_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, field: str
) -> None:
    rc = main([PRESET, f"results_dir={tmp_path}", override])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"config error {field}" in " ".join(err.split())


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        (BatchConfig("b", 0, [SequenceRun(1024, 1)]), "planner.batches[0].gpus"),
        (BatchConfig("b", 4, []), "planner.batches[0].sequences"),
        (BatchConfig("b", 4, [SequenceRun(0, 1)]), "planner.batches[0].sequences[0].length"),
        (BatchConfig("b", 4, [SequenceRun(1024, 0)]), "planner.batches[0].sequences[0].count"),
    ],
)
def test_bad_batches_raise(batch: BatchConfig, field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        validate_planner(PlannerConfig(batches=[batch]))
    assert exc.value.field == field
