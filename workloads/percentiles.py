"""Percentile rules for reports: numpy's linear interpolation, or text-generation-benchmark's.

* ``linear`` (the default, what every metric of this tool uses): sort the values and interpolate
  linearly between the two closest ranks (``numpy.percentile``'s default method).
* ``tgi_benchmark``: what text-generation-benchmark prints (``benchmark/src/table.rs``, ``fn px``):
  ``data[(p / 100 * len) as usize]`` indexed into the samples *in run order*, unsorted. With 10
  runs p90 and p99 are both the last run (index 9), and p90 < p50 can happen; seed 001 was printed
  this way. Average, lowest and highest are plain under both rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from orchestrator.core.percentile_rules import PercentileRule, parse_rule


def percentiles(
    values: Sequence[float], ps: Sequence[float], rule: str | PercentileRule = PercentileRule.linear
) -> list[float]:
    """The ``ps`` percentiles (0..100) of ``values`` (kept in the given order) under ``rule``.

    NaN for every p when ``values`` is empty.
    """
    rule = parse_rule(rule)
    if len(values) == 0:
        return [math.nan for _ in ps]
    if rule is PercentileRule.linear:
        return [float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), list(ps))]
    n = len(values)
    return [float(values[min(int(p / 100 * n), n - 1)]) for p in ps]
