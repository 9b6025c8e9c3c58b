"""What each engine instance really ran: one report line per instance, and the same facts as MLflow tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config.store import load_experiment
from orchestrator.core.engine_info import cores_text, run_text, workers_text
from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from orchestrator.report.build import build_sections
from orchestrator.report.engine_runs import run_lines
from orchestrator.store.reader import load_sweep
from orchestrator.store.results import ResultsStore
from orchestrator.sweep.grid import expand
from orchestrator.tracking.run_record import record_of


def cpu_info(tp: int, pgid: int) -> dict[str, Any]:
    return {
        "engine": "vllm", "engine_version": "0.32.0", "startup_s": 85.24, "pgid": pgid, "node_id": "n1",
        "engine_started_at": 1000.0 + pgid, "tensor_parallel_size": tp, "executor_backend": "mp",
        "workers": [{"rank": r, "pid": pgid + 10 + r, "name": f"VLLM::Worker_TP{r}", "cores": [r]}
                    for r in range(tp)],
        "cpu_cores": [[r] for r in range(tp)],
    }  # fmt: skip


def test_texts() -> None:
    info = cpu_info(2, 100)
    assert workers_text(info) == "rank 0 pid 110 cores 0; rank 1 pid 111 cores 1"
    assert cores_text(info) == "0|1"
    assert run_text(info) == (
        "TP 2 (mp executor), vllm 0.32.0, ready in 85.2 s; rank 0 pid 110 cores 0; rank 1 pid 111 cores 1"
    )
    gpu = {"tensor_parallel_size": 2, "workers": [{"rank": 0, "pid": 7, "gpu": "3"}]}
    assert run_text(gpu) == "TP 2 (default executor), ? unknown; rank 0 pid 7 gpu 3"
    assert cores_text(gpu) == ""


def test_one_line_per_instance_in_the_report_and_tags_per_trial(tmp_path: Path) -> None:
    cfg = load_experiment(["engine.tp=[1,2]", "workload.concurrency=[1,4]"])
    store = ResultsStore(tmp_path, "s")
    store.init_sweep({"sweep_id": "s", "name": "smoke", "config": {}})
    trials = expand(cfg)
    for t in trials:
        info = cpu_info(t.tp, 100 * t.tp)
        store.write(t, TrialResult(t.trial_id, Status.DONE, metrics={"num_ok": 1.0}, engine_info=info))
    sweep = load_sweep(store.sweep_dir)
    lines = run_lines(sweep)
    assert sorted(lines) == [
        "vllm tp1 [2 trial(s)]: TP 1 (mp executor), vllm 0.32.0, ready in 85.2 s; rank 0 pid 110 cores 0",
        "vllm tp2 [2 trial(s)]: TP 2 (mp executor), vllm 0.32.0, ready in 85.2 s; "
        "rank 0 pid 210 cores 0; rank 1 pid 211 cores 1",
    ]
    engines = build_sections(sweep)[0]
    assert engines.title == "Engines" and engines.notes[-2:] == lines
    tp2 = next(t for t in trials if t.tp == 2)
    tags = record_of(store.trial(tp2.trial_id)).tags
    assert tags["engine_tp"] == "2" and tags["executor_backend"] == "mp" and tags["cpu_cores"] == "0|1"
    assert tags["engine_workers"] == "rank 0 pid 210 cores 0; rank 1 pid 211 cores 1"


def test_trials_recorded_before_these_facts_get_no_line(tmp_path: Path) -> None:
    cfg = load_experiment(["engine.tp=[1]", "workload.concurrency=[1]"])
    store = ResultsStore(tmp_path, "old")
    store.init_sweep({"sweep_id": "old", "name": "smoke", "config": {}})
    t = expand(cfg)[0]
    store.write(t, TrialResult(t.trial_id, Status.DONE, engine_info={"engine": "vllm", "engine_tp": 1}))
    assert run_lines(load_sweep(store.sweep_dir)) == []
    assert record_of(store.trial(t.trial_id)).tags["engine_tp"] == ""
