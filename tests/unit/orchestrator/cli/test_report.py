"""``python -m orchestrator.report``: arguments, the generic summary, MLflow warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.report import main
from orchestrator.core.results import TrialResult
from orchestrator.core.status import FailureReason, Status
from orchestrator.store.reader import load_sweep
from orchestrator.store.results import ResultsStore
from tests.helpers import parse_markdown_table
from tests.seed_results import trials_of


def smoke_store(root: Path) -> ResultsStore:
    store = ResultsStore(root, "smoke-1")
    store.init_sweep({"sweep_id": "smoke-1", "name": "smoke"})
    for i, t in enumerate(trials_of("smoke")):
        if i == 0:
            store.write(t, TrialResult(t.trial_id, Status.FAILED, FailureReason.ENGINE_CRASH, "boom"))
        else:
            metrics = {"ttft_p50_ms": 10.0 + i, "request_throughput": 2.5, "output_token_throughput": 80.0}
            store.write(t, TrialResult(t.trial_id, Status.DONE, metrics=metrics))
    return store


def test_generic_summary_and_both_argument_forms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = smoke_store(tmp_path)
    assert main([str(store.sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "the sweep has no MLflow run recorded" in out and "report.md" in out
    md = (store.sweep_dir / "report" / "report.md").read_text()
    rows = parse_markdown_table(md.split("## Summary", 1)[1])
    assert len(rows) == 4
    failed = [r for r in rows if r[4].startswith("FAILED")]
    assert len(failed) == 1 and failed[0][4] == "FAILED(engine_crash)" and set(failed[0][5:]) == {"-"}
    done = [r for r in rows if r[4] == "DONE"]
    assert {r[5] for r in done} == {"11.00", "12.00", "13.00"} and {r[10] for r in done} == {"2.50"}
    assert main([str(tmp_path), "smoke-1", "--no-mlflow"]) == 0


def test_mlflow_down_warns_and_keeps_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = smoke_store(tmp_path)
    store.update_sweep_meta(mlflow_uri="http://127.0.0.1:9", mlflow_parent_run_id="abc")
    assert main([str(store.sweep_dir)]) == 0
    assert "does not answer: report kept locally" in capsys.readouterr().out
    assert (store.sweep_dir / "report" / "report.md").exists()
    assert load_sweep(store.sweep_dir).meta["mlflow_parent_run_id"] == "abc"


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope")]) == 2
    assert "is not a sweep directory" in capsys.readouterr().err
    assert main([]) == 2
