"""Engine telemetry around a workload point: Prometheus ``/metrics`` and GPU memory from NVML.

Counters (preemptions, generated/prompt tokens, finished requests) are scraped before and after
the point and reported as deltas; gauges (KV cache usage, running/waiting requests) are sampled
by a background thread during the point and reported as their maximum; the prefix-cache hit rate
of the point is derived from the two prefix-cache counters. GPU memory used per
device comes from NVML (``nvidia-ml-py``) where it imports and initialises; without it there is
no GPU metric at all (never 0). Every metric is prefixed ``engine_``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engines.base import http_get

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# Prometheus series → our metric name. vLLM (V1 and older names) and TGI.
COUNTERS: Mapping[str, str] = MappingProxyType({
    "vllm:num_preemptions_total": "preemptions",
    "vllm:generation_tokens_total": "generation_tokens",
    "vllm:prompt_tokens_total": "prompt_tokens",
    "vllm:prefix_cache_queries_total": "prefix_cache_queries",
    "vllm:prefix_cache_hits_total": "prefix_cache_hits",
    "vllm:request_success_total": "requests_finished",
    "tgi_request_generated_tokens_sum": "generation_tokens",
    "tgi_request_input_length_sum": "prompt_tokens",
    "tgi_request_success": "requests_finished",
    "tgi_request_failure": "requests_failed",
    "tgi_batch_concat": "batch_concats",
})  # fmt: skip
GAUGES: Mapping[str, str] = MappingProxyType({
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage",
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "tgi_batch_current_size": "requests_running",
    "tgi_queue_size": "requests_waiting",
    "tgi_batch_current_max_tokens": "batch_max_tokens",
})  # fmt: skip


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    """Samples of a Prometheus text-format exposition (comments and malformed lines skipped)."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        try:
            value = float(m.group(3))  # also "NaN", "+Inf", "-Inf"
        except ValueError:
            continue
        labels = tuple(
            (k, v.replace('\\"', '"').replace("\\\\", "\\")) for k, v in _LABEL.findall(m.group(2) or "")
        )
        samples.append(Sample(m.group(1), labels, value))
    return samples


def totals(samples: Sequence[Sample], names: Mapping[str, str]) -> dict[str, float]:
    """Our metric name → the sum over label sets of the matching series (first matching source)."""
    out: dict[str, float] = {}
    seen_source: dict[str, str] = {}
    for s in samples:
        ours = names.get(s.name)
        if ours is None or math.isnan(s.value) or seen_source.setdefault(ours, s.name) != s.name:
            continue
        out[ours] = out.get(ours, 0.0) + s.value
    return out


def counter_deltas(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """``engine_<name>`` = after − before, for counters in the second scrape.

    A counter absent from the first scrape counts from 0: Prometheus clients (TGI's
    metrics-exporter-prometheus) export a counter only from its first increment, so on a fresh
    engine the first point's ``tgi_request_success`` appears only after it. (Both scrapes must have
    been read: :class:`PointTelemetry` reports no delta when either failed.)
    """
    return {f"engine_{k}": after[k] - before.get(k, 0.0) for k in after}


def gauge_peaks(snapshots: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """``engine_<name>_max`` over the gauge snapshots taken during the point."""
    peaks: dict[str, float] = {}
    for snap in snapshots:
        for k, v in snap.items():
            peaks[k] = max(peaks.get(k, v), v)
    return {f"engine_{k}_max": v for k, v in peaks.items()}


def prefix_cache_hit_rate(deltas: Mapping[str, float]) -> dict[str, float]:
    """``engine_prefix_cache_hit_rate`` = hits / queries (prompt tokens found in the prefix cache
    over those looked up, vLLM's counters) over the point; nothing when the engine has no such
    counters or looked nothing up."""
    hits, queries = deltas.get("engine_prefix_cache_hits"), deltas.get("engine_prefix_cache_queries")
    if hits is None or not queries:
        return {}
    return {"engine_prefix_cache_hit_rate": hits / queries}


def scrape(url: str, timeout_s: float = 2.0) -> list[Sample] | None:
    """Samples at ``url``; None when it cannot be read."""
    status, body = http_get(url, timeout_s)
    return parse_prometheus(body.decode("utf-8", "replace")) if status == 200 else None


class NVMLMemory:
    """Used memory (MiB) of a set of GPUs via NVML; ``available`` is False without NVML or GPUs."""

    def __init__(self, gpu_ids: Sequence[str]) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        if not gpu_ids:
            return
        try:
            import pynvml  # nvidia-ml-py (the [gpu] extra)
        except ImportError:
            return
        try:
            pynvml.nvmlInit()
            self._handles = [
                pynvml.nvmlDeviceGetHandleByUUID(g) if g.startswith(("GPU-", "MIG-"))
                else pynvml.nvmlDeviceGetHandleByIndex(int(g))
                for g in gpu_ids
            ]  # fmt: skip
            self._nvml = pynvml
        except (pynvml.NVMLError, ValueError):
            self._handles = []

    @property
    def available(self) -> bool:
        return bool(self._handles)

    def used_mib(self) -> list[float]:
        """Used MiB per device (the whole device: other processes count too); [] on an NVML error."""
        try:
            return [self._nvml.nvmlDeviceGetMemoryInfo(h).used / 2**20 for h in self._handles]
        except self._nvml.NVMLError:
            return []

    def close(self) -> None:
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None


class NVMLEnergy:
    """Energy per GPU over a window from NVML's total-energy counter
    (``nvmlDeviceGetTotalEnergyConsumption``, mJ since the driver loaded; Volta and newer).

    :meth:`start` before the point, :meth:`joules` after it: J per device, or [] with the reason
    in ``skipped`` (no GPU, no NVML, or a device that does not support the counter).
    """

    def __init__(self, gpu_ids: Sequence[str]) -> None:
        self.gpu_ids = list(gpu_ids)
        self.skipped = ""
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._start: list[int] = []

    def start(self) -> NVMLEnergy:
        if not self.gpu_ids:
            self.skipped = "no GPU (the engine runs on CPU)"
            return self
        try:
            import pynvml  # nvidia-ml-py (the [gpu] extra)
        except ImportError:
            self.skipped = "nvidia-ml-py is not installed"
            return self
        try:
            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [
                pynvml.nvmlDeviceGetHandleByUUID(g) if g.startswith(("GPU-", "MIG-"))
                else pynvml.nvmlDeviceGetHandleByIndex(int(g))
                for g in self.gpu_ids
            ]  # fmt: skip
            self._start = [pynvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles]
        except (pynvml.NVMLError, ValueError) as exc:
            self.skipped = f"NVML total energy counter not available: {exc}"
            self.close()
        return self

    def joules(self) -> list[float]:
        """J per device since :meth:`start` ([] when skipped); closes NVML."""
        if not self._start:
            self.close()
            return []
        try:
            end = [self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles]
        except self._nvml.NVMLError as exc:
            self.skipped = f"NVML total energy counter failed: {exc}"
            return []
        finally:
            self.close()
        return [(b - a) / 1000.0 for a, b in zip(self._start, end, strict=True)]

    def close(self) -> None:
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None


@dataclass
class PointTelemetry:
    """Start before a workload point, stop after it; :meth:`metrics` gives the ``engine_*`` values."""

    metrics_url: str | None
    gpu_ids: Sequence[str] = ()
    interval_s: float = 1.0
    scraper: Callable[[str], list[Sample] | None] = scrape
    _before: dict[str, float] | None = field(default=None, init=False)
    _after: dict[str, float] | None = field(default=None, init=False)
    _gauges: list[dict[str, float]] = field(default_factory=list, init=False)
    _gpu_peaks: list[float] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _nvml: NVMLMemory | None = field(default=None, init=False)

    def start(self) -> None:
        self._before = self._counters()
        self._nvml = NVMLMemory(self.gpu_ids)
        self._thread = threading.Thread(target=self._run, name="engine-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sample()  # one last sample after the point
        if self._nvml is not None:
            self._nvml.close()
        self._after = self._counters()

    def _counters(self) -> dict[str, float] | None:
        samples = self.scraper(self.metrics_url) if self.metrics_url else None
        return None if samples is None else totals(samples, COUNTERS)

    def _sample(self) -> None:
        samples = self.scraper(self.metrics_url) if self.metrics_url else None
        if samples is not None:
            self._gauges.append(totals(samples, GAUGES))
        if self._nvml is not None and self._nvml.available:
            used = self._nvml.used_mib()
            if not used:
                return
            old = self._gpu_peaks or used
            self._gpu_peaks = [max(a, b) for a, b in zip(old, used, strict=True)]

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def metrics(self) -> dict[str, float]:
        out = gauge_peaks(self._gauges)
        if self._before is not None and self._after is not None:
            out.update(counter_deltas(self._before, self._after))
            out.update(prefix_cache_hit_rate(out))
        if self._gpu_peaks:
            out["engine_gpu_mem_peak_mib"] = max(self._gpu_peaks)
            out["engine_gpu_mem_peak_sum_mib"] = sum(self._gpu_peaks)  # Σ of per-device peaks
        return out
