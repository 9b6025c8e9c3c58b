"""Seed 001's preset (``+exp=tgi_tp_sweep``) end to end on Ray, against the TGI stand-in on CPU.

TGI gets its placement TP on CPU (``engines.base.engine_tp``), so the TP 2 and TP 4 instances run
2 and 4 shards side by side on one node: each must have its own torch.distributed master port,
shard sockets and Prometheus port. An early EOS must fail the static batch (``short_outputs``),
with decode figures over the tokens produced; a side channel fixed in the config while two
instances can share a node is refused before anything starts.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

from orchestrator.store.results import ResultsStore
from tests.conftest import kill_tagged, wait_no_tagged
from tests.integration.test_scheduling import orchestrate

pytestmark = pytest.mark.integration

BIN = Path(__file__).resolve().parents[2] / "engines" / "standins" / "tgi" / "bin"
TINY = [  # the preset's model (bloomz-7b1-mt, 1512 tokens) replaced by the tiny local one
    "model=tiny", "model.path=tiny", "model.name=tiny-llama", "model.max_model_len=512",
    "engine.tgi.max_input_length=256", "engine.tgi.max_total_tokens=512",
]  # fmt: skip
SMALL = [
    "workload.batch_sizes=[1,2]", "workload.runs=2", "workload.warmups=1",
    "workload.input_len=[16]", "workload.output_len=[8]",
]  # fmt: skip


@pytest.fixture
def standin_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The orchestrator's environment (tests.conftest.tagged_env reads os.environ): the stand-in's
    executables first on PATH, run by this interpreter."""
    path = os.pathsep.join([str(BIN), str(Path(sys.executable).parent), os.environ["PATH"]])
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("TGI_STANDIN_PYTHON", sys.executable)


def sweep(results_dir: Path, sweep_id: str, *overrides: str, tag: str) -> tuple[int, str]:
    proc = orchestrate(
        "+exp=tgi_tp_sweep", "resources=cpu", *TINY, *SMALL, "tracking=none",
        "engine.startup_timeout_s=120", f"results_dir={results_dir}", f"sweep_id={sweep_id}",
        *overrides, tag=tag, timeout=150,
    )  # fmt: skip
    left = wait_no_tagged(tag, timeout_s=30)
    kill_tagged(tag)
    assert not left, f"processes left behind: {left}"
    return proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:]


def flag_value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_tp2_and_tp4_share_a_node_then_early_eos_fails(
    results_dir: Path, tag: str, standin_path: None
) -> None:
    # (a) TP 2 and TP 4 on one node at once, each with its own side channels
    code, out = sweep(results_dir, "tp24", "engine.tp=[2,4]", "ray.max_concurrent_engines=2", tag=tag)
    assert code == 0, out
    results = ResultsStore(results_dir, "tp24").all_results()
    assert len(results) == 4 and all(r["status"] == "DONE" for r in results), out
    for r in results:  # the one flag: another instance measured on the node at the same time
        expected = ["co_tenancy"] if r["co_tenancy"]["others"] else []
        assert [f["kind"] for f in r["flags"]] == expected, r["flags"]
    by_tp = {tp: [r for r in results if r["tp"] == tp] for tp in (2, 4)}
    instances = {tp: rs[0]["engine_info"] for tp, rs in by_tp.items()}
    for tp, info in instances.items():
        assert info["engine_tp"] == tp and flag_value(info["command"], "--num-shard") == str(tp)
        assert all(r["engine_info"]["pgid"] == info["pgid"] for r in by_tp[tp])  # one instance per TP
    assert instances[2]["node"]["hostname"] == instances[4]["node"]["hostname"]
    for flag in ("--port", "--master-port", "--shard-uds-path", "--prometheus-port"):
        assert flag_value(instances[2]["command"], flag) != flag_value(instances[4]["command"], flag), flag
    overlaps = [
        (a["trial_id"], b["trial_id"])
        for a, b in itertools.product(by_tp[2], by_tp[4])
        if a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"]
    ]
    assert overlaps, [(r["tp"], r["started_at"], r["ended_at"]) for r in results]
    recorded = {(r["trial_id"], o["trial_id"]) for r in results for o in r["co_tenancy"]["others"]}
    for a_id, b_id in overlaps:  # each of two overlapping trials records the other
        assert (a_id, b_id) in recorded and (b_id, a_id) in recorded, (a_id, b_id, recorded)
    for r in results:  # the engine's counters, from 0 on its fresh first point too
        assert r["metrics"]["engine_requests_finished"] == 3 * int(r["metrics"]["batch_size"]), r["metrics"]

    # (b) every sequence ends at its 4th token: the static batch fails as short_outputs, with decode
    # figures over the 4 tokens produced (3 decode steps), never the 8 asked for
    eos = ("engine.tp=[2]", "+engine.env.TGI_STANDIN_EOS_AFTER=4", "ray.max_concurrent_engines=2")
    code, out = sweep(results_dir, "eos", *eos, tag=tag)
    assert code != 0, out
    store = ResultsStore(results_dir, "eos")
    results = store.all_results()
    assert len(results) == 2, out
    for r in results:
        assert (r["status"], r["reason"]) == ("FAILED", "short_outputs"), r["message"]
        assert "short_outputs" in [f["kind"] for f in r["flags"]]
        requests = store.requests(r["trial_id"])
        assert len(requests) == 3 * int(r["metrics"]["batch_size"])  # 1 warmup + 2 runs of B
        assert (requests["output_tokens"] == 4).all()
        m = r["metrics"]
        assert m["decode_token_latency_avg_ms"] == pytest.approx(m["decode_total_latency_avg_ms"] / 3)
        assert m["decode_token_latency_avg_ms"] > 2.0  # one 5 ms stand-in step each, not a burst


def test_fixed_master_port_with_colocation_is_refused(
    results_dir: Path, tag: str, standin_path: None
) -> None:
    """(c) engine.tgi.master_port=29500 (the seed's) for TP 2 and TP 4 instances that may share the
    node: a config error naming the field, before Ray or any engine starts."""
    fixed = ("engine.tp=[2,4]", "ray.max_concurrent_engines=2", "engine.tgi.master_port=29500")
    code, out = sweep(results_dir, "fixed", *fixed, tag=tag)
    assert code == 2, out
    assert "config error engine.tgi.master_port" in out
    assert not (results_dir / "fixed").exists()
