"""Engine versions: recorded with each trial, shown in the report header, mismatches noted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.report.build import (
    reference_version,
    report,
    version_lines,
    version_matches,
)
from orchestrator.store.reader import load_sweep
from orchestrator.store.results import ResultsStore
from tests.seed_results import trials_of


def _store(root: Path, preset: str, versions: dict[str, str], config: dict[str, Any]) -> ResultsStore:
    store = ResultsStore(root, preset)
    store.init_sweep({"sweep_id": preset, "name": preset, "config": config})
    for t in trials_of(preset)[:4]:
        info = {"engine": t.engine.name, "engine_version": versions.get(t.engine.name, "unknown")}
        store.write(t, TrialResult(t.trial_id, Status.DONE, metrics={}, engine_info=info))
    return store


@pytest.mark.parametrize(
    ("running", "reference", "same"),
    [("3.3.7", "3.3.7", True), ("3.3.7", "3.3", True), ("3.3.7", "3.x", True),
     ("v0.8.4", "0.8.x", True), ("3.3.7", "0.8.x", False), ("0.2.7", "0.2.1", False),
     ("0.8", "0.8.1", False), ("unknown", "0.8.x", False)],
)  # fmt: skip
def test_version_matches(running: str, reference: str, same: bool) -> None:
    assert version_matches(running, reference) is same


def test_header_line_and_mismatch_note(tmp_path: Path) -> None:
    config = {"engine": {"name": "tgi", "reference_version": "0.8.x"}}
    store = _store(tmp_path, "tgi_tp_sweep", {"tgi": "3.3.7"}, config)
    sweep = load_sweep(store.sweep_dir)
    assert {t.engine_version for t in sweep.trials} == {"3.3.7"}  # loaded from result.json engine_info
    assert version_lines(sweep) == [
        "engine: tgi 3.3.7 (seed measured 0.8.x)",
        "note: tgi 3.3.7 is not the version the seed measured (0.8.x); figures may differ from the seed's "
        "for that reason.",
    ]
    report(sweep, Console(quiet=True), mlflow=False)
    md = (store.sweep_dir / "report" / "report.md").read_text()
    head = md.split("## Engines", 1)[1].split("\n## ", 1)[0]
    assert "\nengine: tgi 3.3.7 (seed measured 0.8.x)\n" in head and "is not the version" in head
    assert md.index("## Engines") < md.index("## tgi: arguments") < md.index("## Tensor Parallel")


def test_same_version_no_note_and_no_reference(tmp_path: Path) -> None:
    store = _store(
        tmp_path / "a", "tgi_tp_sweep", {"tgi": "0.8.2"}, {"engine": {"reference_version": "0.8.x"}}
    )
    # the stored engine config names no engine (and lists no engines): its reference is not assumed
    sweep = load_sweep(store.sweep_dir)
    assert reference_version(sweep, sweep.trials[0]) is None  # engine name missing: not assumed
    store = _store(tmp_path / "b", "tgi_tp_sweep", {"tgi": "0.8.2"},
                   {"engine": {"name": "tgi", "reference_version": "0.8.x"}})  # fmt: skip
    assert version_lines(load_sweep(store.sweep_dir)) == ["engine: tgi 0.8.2 (seed measured 0.8.x)"]
    store = _store(tmp_path / "c", "tgi_tp_sweep", {"tgi": "3.3.7"}, {"engine": {"name": "tgi"}})
    assert version_lines(load_sweep(store.sweep_dir)) == ["engine: tgi 3.3.7"]


def test_per_engine_references_in_a_multi_engine_sweep(tmp_path: Path) -> None:
    config = {
        "engine": {"name": "vllm", "reference_version": None},
        "engines": ["vllm", "tgi"],
        "engine_overrides": {
            "vllm": ["engine.reference_version=0.2.7"],
            "tgi": ["engine.reference_version=1.1.0"],
        },
    }
    store = ResultsStore(tmp_path, "awq")
    store.init_sweep({"sweep_id": "awq", "name": "vllm_vs_tgi_awq", "config": config})
    trials = trials_of("vllm_vs_tgi_awq")
    for engine, version in (("vllm", "0.2.7"), ("tgi", "3.3.7")):
        t = next(t for t in trials if t.engine.name == engine)
        info = {"engine": engine, "engine_version": version}
        store.write(t, TrialResult(t.trial_id, Status.DONE, metrics={}, engine_info=info))
    lines = version_lines(load_sweep(store.sweep_dir))
    assert "engine: vllm 0.2.7 (seed measured 0.2.7)" in lines
    assert "engine: tgi 3.3.7 (seed measured 1.1.0)" in lines
    assert [n for n in lines if n.startswith("note:")] == [
        "note: tgi 3.3.7 is not the version the seed measured (1.1.0); figures may differ from the seed's "
        "for that reason."
    ]


def test_recorded_reference_wins_and_unknown_version(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path, "fg")
    store.init_sweep({"sweep_id": "fg", "name": "flexgen_diagonal", "config": {}})
    t = trials_of("flexgen_diagonal")[0]
    info = {"engine": "flexgen", "engine_version": "unknown", "reference_version": "0.1.7"}
    store.write(t, TrialResult(t.trial_id, Status.DONE, metrics={"total_latency_s": 1.0}, engine_info=info))
    sweep = load_sweep(store.sweep_dir)
    assert version_lines(sweep) == [
        "engine: flexgen unknown (seed measured 0.1.7)",
        "note: the flexgen version is not recorded; the seed measured 0.1.7.",
    ]
