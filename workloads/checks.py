"""The tool's checks of its own numbers: one finished point's metrics → its validity flags (pure).

Each check reads the point's spec and flat metrics (the load generator's summary merged with the
engine telemetry, ``engine_*``) and returns a :class:`workloads.validity.Flag` when the run did not
measure what it claims. :func:`check_point` runs them all; the runner turns a failing flag into a
FAILED trial with that reason. (``client_behind`` and ``request_errors`` come from the summary's
``valid``, which knows whether the strategy had a send schedule; the runner adds their flag.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workloads.spec import LoadSpec
from workloads.validity import Flag, FlagKind

COALESCED_TOKENS_PER_EVENT = 1.05
"""Above this many output tokens per token event, TPOT/ITL are measured over coalesced steps."""

Metrics = Mapping[str, Any]
Check = Callable[[LoadSpec, Metrics], Flag | None]


def _num(metrics: Metrics, key: str) -> float:
    value = metrics.get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def coalesced_stream(spec: LoadSpec, metrics: Metrics) -> Flag | None:
    """Tokens per SSE event above :data:`COALESCED_TOKENS_PER_EVENT` (server or client batched them)."""
    per_event = _num(metrics, "tokens_per_event")
    if not per_event > COALESCED_TOKENS_PER_EVENT:
        return None
    return Flag(
        FlagKind.COALESCED_STREAM,
        f"{per_event:.2f} output tokens per stream event: TPOT and ITL cover fewer, larger steps",
    )


CHECKS: tuple[Check, ...] = (coalesced_stream,)


def check_point(spec: LoadSpec, metrics: Metrics, checks: Sequence[Check] = CHECKS) -> list[Flag]:
    """Every flag the point's metrics raise, in check order."""
    return [flag for check in checks if (flag := check(spec, metrics)) is not None]
