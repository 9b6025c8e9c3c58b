"""The search's report: the Pareto frontier, the table and the chosen line."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config.store import load_experiment
from orchestrator.core.status import Status
from orchestrator.search.measure import Measurement
from orchestrator.search.policy import Rules, choose, replay
from orchestrator.search.report import build, pareto
from orchestrator.search.space import expand


def test_pareto() -> None:
    pts = [(10.0, 100.0, "a"), (20.0, 80.0, "b"), (15.0, 70.0, "c"), (30.0, 10.0, "d"), (10.0, 90.0, "e")]
    assert [p[2] for p in pareto(pts)] == ["a", "b", "d"]


def test_report_table_chosen_line_and_files(tmp_path: Path) -> None:
    cfg = load_experiment(["+exp=smoke_search"])
    c2, c8, bad = expand(cfg)

    def ok(cid: str, rnd: int, rate: float) -> Measurement:
        return Measurement(cid, rnd, f"{cid}{rnd}", 1, Status.DONE, rate=rate, rate_upper=rate * 1.2,
                           tokens_per_request=32, goodput=rate * 32, p99_ms={"ttft_ms": 60.0, "tpot_ms": 5.0},
                           tpot_p50_ms=4.0, startup_s=40.0)  # fmt: skip

    results = {
        (c2.cid, 0): ok(c2.cid, 0, 3.5),  # bound 4.2 × 32 × 1.1 > c8's 4 × 32: not dominated, pruned
        (c8.cid, 0): ok(c8.cid, 0, 4.0),
        (c8.cid, 1): ok(c8.cid, 1, 5.0),
        (bad.cid, 0): Measurement(bad.cid, 0, "b0", 1, Status.FAILED, "oom", "no memory"),
    }
    rules = Rules.of(cfg.search)
    ids = [c2.cid, c8.cid, bad.cid]
    plan = replay(ids, results, rules)
    slo = {"ttft_ms": 150.0, "tpot_ms": 50.0}
    choice = choose(plan, rules, slo, ids)
    out = build(tmp_path, "t", [c2, c8, bad], plan, rules, choice, slo, {c8.cid: 3600.0})
    assert out.line == (
        "chosen: vllm tp=1 max_num_seqs=8 — goodput 160.0 tok/s/GPU at 5.00 req/s "
        "(SLO ttft_p99 150 ms: 60 ms, margin 60%; tpot_p99 50 ms: 5 ms, margin 90%)"
    )
    assert [r[-1] for r in out.table.rows] == ["pruned", "chosen", "failed (oom)"]
    assert out.table.rows[1][1:4] == ["1", "1", "5.00"] and out.table.rows[1][9] == "1.0000"
    assert {p.name for p in out.files} == {"report.md", "pareto.png", "report.html", "search.json"}
    assert out.summary["chosen"]["label"] == "vllm tp=1 max_num_seqs=8" and out.summary["pareto"]
    assert "vllm tp=1 max_num_seqs=2: round 0: not in the best 1" in (tmp_path / "report.md").read_text()
    none = build(tmp_path, "t", [bad], replay([bad.cid], results, rules), rules, None, slo, {})
    assert none.line == "chosen: none — no configuration met the SLO (ttft_p99 <= 150 ms, tpot_p99 <= 50 ms)"
