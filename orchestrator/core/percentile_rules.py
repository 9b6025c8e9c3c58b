"""The percentile rules a report may use (``report.percentiles``); :mod:`workloads.percentiles`
computes them."""

from __future__ import annotations

from enum import StrEnum


class PercentileRule(StrEnum):
    linear = "linear"
    tgi_benchmark = "tgi_benchmark"


RULE_NOTES: dict[PercentileRule, str] = {
    PercentileRule.linear: "linear interpolation over sorted values",
    PercentileRule.tgi_benchmark: "text-generation-benchmark's rule: data[int(p/100·n)] in run order",
}
RULE_NAMES: tuple[str, ...] = tuple(r.value for r in PercentileRule)


def parse_rule(value: str | PercentileRule) -> PercentileRule:
    """The rule named ``value``; ValueError listing the allowed names otherwise."""
    try:
        return PercentileRule(value)
    except ValueError:
        raise ValueError(f"unknown percentile rule '{value}' (allowed: {', '.join(RULE_NAMES)})") from None
