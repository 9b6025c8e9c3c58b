"""What a trial's measurement shared and cost (pure): co-tenancy, the exclusive-node rule, GPU-seconds
and dollars per million output tokens.

The scheduler opens a *measurement window* when it sends an instance a point (``run_point``) and
closes it with the point's result (actor-side ``started_at`` .. ``ended_at``). A trial's co-tenants
are the other windows on any of its nodes that overlapped its own: closed ones with their exact
overlap, ones still open with the overlap up to now (``ongoing``). Each of two overlapping trials
records the other, whichever finishes first. With ``ray.exclusive_nodes`` an instance sends its next
point only while no other window is open on its nodes (:meth:`Windows.busy`); engine start-ups and
stops are not measurements and may still overlap.

Cost: a point holds its instance's GPUs from the end of the instance's previous point (for the
first: from its placement, so start-up and model load count) to its own end (``gpu_seconds_held``);
it measures them over its window (``gpu_seconds_measured``). With ``cost.gpu_hour_usd``: dollars per
million output tokens at the measured output throughput and, for ``sla_search``, at the highest
rate that met the SLOs (``sla_max_rate`` × output tokens per request).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.results import TrialResult
from orchestrator.core.status import Status
from workloads.checks import co_tenancy

OUTPUT_RATE_KEYS = ("output_token_throughput", "decode_throughput_tok_s")
"""Output tokens per second, the first present: serving trials, then FlexGen's decode throughput."""


@dataclass
class Window:
    trial_id: str
    nodes: tuple[str, ...]
    gpus: tuple[str, ...]
    start: float
    end: float | None = None  # None while the point runs


def overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds two intervals share (0 when they do not meet)."""
    return max(0.0, min(a1, b1) - max(a0, b0))


@dataclass
class Windows:
    """Every measurement window of a sweep (driver side), open and closed."""

    windows: dict[str, Window] = field(default_factory=dict)

    def open(self, trial_id: str, nodes: Sequence[str], gpus: Sequence[str], now: float) -> None:
        self.windows[trial_id] = Window(trial_id, tuple(nodes), tuple(gpus), now)

    def busy(self, nodes: Collection[str]) -> bool:
        """Whether a window is open on any of ``nodes`` (the exclusive-node rule)."""
        return any(w.end is None and set(w.nodes) & set(nodes) for w in self.windows.values())

    def drop(self, trial_id: str) -> None:
        """A window whose point never came back (its actor died): forget it."""
        self.windows.pop(trial_id, None)

    def close(self, trial_id: str, start: float, end: float, now: float) -> list[dict[str, Any]]:
        """Close ``trial_id``'s window at its result's times; its co-tenants, longest overlap first."""
        own = self.windows.get(trial_id)
        if own is None:
            return []
        own.start, own.end = start, end
        others = []
        for w in self.windows.values():
            shared = sorted(set(w.nodes) & set(own.nodes))
            if w is own or not shared:
                continue
            seconds = overlap_s(start, end, w.start, now if w.end is None else w.end)
            if seconds > 0:
                others.append({"trial_id": w.trial_id, "gpus": list(w.gpus), "nodes": shared,
                               "overlap_s": round(seconds, 3), "ongoing": w.end is None})  # fmt: skip
        return sorted(others, key=lambda o: -o["overlap_s"])


def usd_per_mtok(gpu_hour_usd: float, gpus: int, tokens_per_s: float) -> float:
    """Dollars per million output tokens of ``gpus`` GPUs producing ``tokens_per_s`` (NaN at 0)."""
    if not tokens_per_s > 0 or not math.isfinite(tokens_per_s):
        return math.nan
    return gpu_hour_usd * gpus / 3600.0 / tokens_per_s * 1e6


def cost_metrics(
    metrics: Mapping[str, float],
    gpus: int,
    held_s: float,
    measured_s: float,
    gpu_hour_usd: float | None,
    output_len: int = 0,
) -> dict[str, float]:
    """GPU-seconds held and measured, and with a price the dollars per million output tokens."""
    out = {"gpu_seconds_held": round(gpus * held_s, 3), "gpu_seconds_measured": round(gpus * measured_s, 3)}
    if gpu_hour_usd is None:
        return out
    out["usd_gpu_held"] = gpu_hour_usd * out["gpu_seconds_held"] / 3600.0
    rate = next((float(metrics[k]) for k in OUTPUT_RATE_KEYS if k in metrics), math.nan)
    if math.isfinite(value := usd_per_mtok(gpu_hour_usd, gpus, rate)):
        out["usd_per_mtok_output"] = value
    slo_rate = float(metrics.get("sla_max_rate", math.nan))
    if math.isfinite(slo_rate) and slo_rate > 0:
        ok = float(metrics.get("num_ok", 0) or 0)
        per_request = (
            float(metrics["total_output_tokens"]) / ok
            if ok and "total_output_tokens" in metrics
            else output_len
        )
        if math.isfinite(value := usd_per_mtok(gpu_hour_usd, gpus, slo_rate * per_request)):
            out["usd_per_mtok_output_at_slo"] = value
    return out


def energy_metrics(metrics: Mapping[str, float], joules: Sequence[float]) -> dict[str, float]:
    """Energy per GPU of the instance over the point, the total, and output tokens per joule."""
    if not joules:
        return {}
    out = {f"gpu{i}_energy_j": round(j, 3) for i, j in enumerate(joules)}
    out["gpu_energy_j"] = round(sum(joules), 3)
    tokens = metrics.get("total_output_tokens")
    if tokens is not None and out["gpu_energy_j"] > 0:
        out["output_tokens_per_j"] = float(tokens) / out["gpu_energy_j"]
    return out


def settle(
    result: TrialResult,
    windows: Windows,
    gpus: int,
    held_s: float,
    now: float,
    gpu_hour_usd: float | None,
    output_len: int = 0,
) -> None:
    """Close the result's measurement window: its co-tenants (and a ``co_tenancy`` flag when it
    finished), its GPU-seconds and cost (finished trials only: a failed one has no numbers)."""
    others = windows.close(result.trial_id, result.started_at, result.ended_at, now)
    result.co_tenancy = {**result.co_tenancy, "others": others}
    if result.status is not Status.DONE:
        return
    measured = max(0.0, result.ended_at - result.started_at)
    result.metrics["co_tenants"] = float(len(others))
    result.metrics.update(cost_metrics(result.metrics, gpus, held_s, measured, gpu_hour_usd, output_len))
    if (flag := co_tenancy(others, measured)) is not None:
        result.flags.append(flag)


def sweep_cost(held: Sequence[tuple[int, float, float]], gpu_hour_usd: float | None) -> dict[str, Any]:
    """The run's cost for ``sweep.json``: GPU-seconds its instances held, (GPUs, placed_at,
    released_at) each, and their price with ``cost.gpu_hour_usd``."""
    seconds = sum(gpus * max(0.0, released - placed) for gpus, placed, released in held)
    usd = None if gpu_hour_usd is None else round(gpu_hour_usd * seconds / 3600, 6)
    return {"gpu_seconds_held": round(seconds, 3), "gpu_hour_usd": gpu_hour_usd, "usd": usd}
