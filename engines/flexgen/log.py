"""FlexGen's benchmark log (``flexgen.utils.write_benchmark_log``) as metrics, and its version."""

from __future__ import annotations

import importlib.metadata
import re

from engines.failures import OOM_PATTERNS

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
# metric name → pattern; each value is the last match in the log.
LOG_PATTERNS: dict[str, str] = {
    "model_size_gb": rf"model size:\s*{_NUM}\s*GB",
    "cache_size_gb": rf"cache size:\s*{_NUM}\s*GB",
    "hidden_size_gb": rf"hidden size \(p\):\s*{_NUM}\s*GB",
    "peak_gpu_mem_gb": rf"peak gpu mem:\s*{_NUM}\s*GB",
    "prefill_latency_s": rf"prefill latency:\s*{_NUM}\s*s",
    "prefill_throughput_tok_s": rf"prefill throughput:\s*{_NUM}\s*token/s",
    "decode_latency_s": rf"decode latency:\s*{_NUM}\s*s",
    "decode_throughput_tok_s": rf"decode throughput:\s*{_NUM}\s*token/s",
    "total_latency_s": rf"total latency:\s*{_NUM}\s*s",
    "total_throughput_tok_s": rf"total throughput:\s*{_NUM}\s*token/s",
}
REQUIRED = ("total_latency_s", "total_throughput_tok_s")
_PROJECTED = re.compile(r"projected:\s*(True|False)")
_VERSION = re.compile(r"flexgen version:\s*(\S+)", re.IGNORECASE)
_TORCH_PEAK = re.compile(
    rf"TorchDevice:\s*(cuda:\d+)\s*\n\s*cur_mem:\s*{_NUM}\s*GB,\s*peak_mem:\s*{_NUM}\s*GB"
)


def parse_flexgen_log(text: str) -> dict[str, float]:
    """The benchmark numbers of a FlexGen log; ValueError if the run printed none (or ran OOM).

    Also ``projected`` (1.0 when FlexGen extrapolated from fewer batches / a cut generation) and
    ``torch_peak_mem_gb`` (the largest ``TorchDevice: cuda:N ... peak_mem`` line, if printed).
    """
    oom = next((p for p in OOM_PATTERNS if p in text), None)
    metrics: dict[str, float] = {}
    for name, pattern in LOG_PATTERNS.items():
        found = re.findall(pattern, text)
        if found:
            metrics[name] = float(found[-1])
    missing = [m for m in REQUIRED if m not in metrics]
    if oom is not None and missing:
        raise ValueError(f"out of memory ({oom}) before FlexGen printed its results")
    if missing:
        raise ValueError(f"FlexGen log has no {', '.join(missing)} line")
    projected = _PROJECTED.findall(text)
    if projected:
        metrics["projected"] = 1.0 if projected[-1] == "True" else 0.0
    torch_peaks = [float(peak) for _dev, _cur, peak in _TORCH_PEAK.findall(text)]
    if torch_peaks:
        metrics["torch_peak_mem_gb"] = max(torch_peaks)
    return metrics


def flexgen_version(log_text: str = "") -> str:
    """The FlexGen version a run used: printed in its log, else installed here, else ``unknown``."""
    printed = _VERSION.findall(log_text)
    if printed:
        return str(printed[-1])
    try:
        return importlib.metadata.version("flexgen")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
