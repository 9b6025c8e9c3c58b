"""The report shows every validity flag: a flagged trial is DONE* (or FAILED with the flag's
reason) and a "Validity flags" section names each flag with its figures."""

from __future__ import annotations

from pathlib import Path

from orchestrator.report.build import build_sections
from orchestrator.store.reader import SweepData, TrialData

FLAG = {"kind": "prefix_cache_hits", "reason": "12.0% of prompts cached", "fails": False}
SHORT = {"kind": "short_outputs", "reason": "4 of 4 requests stopped early", "fails": True}


def trial(tid: str, status: str, reason: str | None, flags: list[dict]) -> TrialData:
    cfg = {"engine": {"name": "vllm"}, "workload": {"name": "concurrency", "concurrency": 1}}
    return TrialData(tid, f"t-{tid}", status, reason, 1, cfg, {"ttft_p50_ms": 1.0}, flags=flags)


def test_flagged_trials_are_never_a_clean_done(tmp_path: Path) -> None:
    trials = [
        trial("a", "DONE", None, []),
        trial("b", "DONE", None, [FLAG]),
        trial("c", "FAILED", "short_outputs", [SHORT]),
    ]
    assert [t.status_text for t in trials] == ["DONE", "DONE*", "FAILED(short_outputs)"]
    sections = build_sections(SweepData(tmp_path, {}, trials))
    (validity,) = [s for s in sections if s.title == "Validity flags"]
    assert validity.notes == [
        "t-b [b] DONE*: prefix_cache_hits (qualifies its figures): 12.0% of prompts cached",
        "t-c [c] FAILED(short_outputs): short_outputs (fails the trial): 4 of 4 requests stopped early",
    ]
    clean = build_sections(SweepData(tmp_path, {}, trials[:1]))
    assert all(s.title != "Validity flags" for s in clean)
