"""Statistics over repeated trials: bootstrap confidence intervals, ratio CIs, a permutation test,
the drift measure, and the shuffled interleaving of repeats (all pure, seeded, numpy only).

Why these: serving numbers drift (one round's TPOT medians on this project's 2-core CI machine
were 35% apart for the same engine), so a figure from one trial says little and a ratio of two
says less. Repeats give a sample per configuration; the percentile bootstrap turns it into an
interval without assuming a distribution (a handful of repeats is rarely normal), the
permutation test says whether two configurations differ at all, and interleaving the repeats
of all configurations in a seeded shuffled order spreads a drift of the machine over all of them
instead of landing it on the one measured last.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_LEVEL = 0.95
DEFAULT_RESAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with the bounds of its confidence interval at ``level``."""

    value: float
    low: float
    high: float
    level: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width: what ``value ± half_width`` prints (the interval may be skewed)."""
        return (self.high - self.low) / 2

    def excludes(self, x: float) -> bool:
        """Whether ``x`` lies outside the interval (e.g. 1.0 for a ratio: the two differ)."""
        return not self.low <= x <= self.high

    def text(self, fmt: str = ".4g") -> str:
        """``value ± half-width`` (just the value for a single sample or an undefined interval)."""
        if self.n < 2 or not math.isfinite(self.half_width):
            return format(self.value, fmt)
        return f"{self.value:{fmt}} ± {self.half_width:{fmt}}"


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=float)
    return arr[np.isfinite(arr)]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be within (0, 1), got {level}")


def bootstrap_ci(
    values: Sequence[float],
    level: float = DEFAULT_LEVEL,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """The mean of ``values`` (non-finite ones dropped) with its percentile-bootstrap interval (pure).

    One value: the interval is that value (nothing to resample; ``text`` shows no ±). None: NaN.
    """
    _check_level(level)
    arr = _clean(values)
    if arr.size == 0:
        return Interval(math.nan, math.nan, math.nan, level, 0)
    mean = float(arr.mean())
    if arr.size == 1:
        return Interval(mean, mean, mean, level, 1)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(mean, float(low), float(high), level, int(arr.size))


def ratio_ci(
    numerator: Sequence[float],
    denominator: Sequence[float],
    level: float = DEFAULT_LEVEL,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """mean(numerator) / mean(denominator) with a bootstrap interval, the samples resampled
    independently (the repeats of two configurations are not paired) (pure).

    ``excludes(1.0)`` says the two differ at ``level``. ``n`` is the smaller sample's size.
    """
    _check_level(level)
    a, b = _clean(numerator), _clean(denominator)
    n = int(min(a.size, b.size))
    if n == 0 or b.mean() == 0:
        return Interval(math.nan, math.nan, math.nan, level, n)
    value = float(a.mean() / b.mean())
    if a.size < 2 or b.size < 2:
        return Interval(value, value, value, level, n)
    rng = np.random.default_rng(seed)
    ma = a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1)
    mb = b[rng.integers(0, b.size, size=(resamples, b.size))].mean(axis=1)
    ok = mb != 0
    ratios = ma[ok] / mb[ok]
    alpha = (1 - level) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return Interval(value, float(low), float(high), level, n)


def permutation_p_value(
    a: Sequence[float], b: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> float:
    """Two-sided permutation test of equal means: the share of random relabellings of the pooled
    samples whose |mean difference| is at least the observed one (pure).

    Exact (every relabelling) when there are at most ``resamples`` of them; the observed labelling
    counts, so the p-value is never 0. NaN when either sample is empty.
    """
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return math.nan
    pooled = np.concatenate([x, y])
    observed = abs(x.mean() - y.mean())
    tol = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    n, k = pooled.size, x.size
    if math.comb(n, k) <= resamples:
        from itertools import combinations

        total = pooled.sum()
        hits = count = 0
        for idx in combinations(range(n), k):
            s = pooled[list(idx)].sum()
            diff = abs(s / k - (total - s) / (n - k))
            hits += diff >= observed - tol
            count += 1
        return hits / count
    rng = np.random.default_rng(seed)
    hits = 1  # the observed labelling
    for _ in range(resamples):
        perm = rng.permutation(pooled)
        hits += abs(perm[:k].mean() - perm[k:].mean()) >= observed - tol
    return hits / (resamples + 1)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation over the mean (NaN for fewer than 2 values or a zero mean) (pure)."""
    arr = _clean(values)
    if arr.size < 2 or arr.mean() == 0:
        return math.nan
    return float(arr.std(ddof=1) / abs(arr.mean()))


def interleave(keys: Sequence[Hashable], repeats: int, seed: int = 0) -> list[tuple[Hashable, int]]:
    """Every ``(key, repeat)`` for ``repeat`` in ``0..repeats-1``, in a seeded shuffled order in
    which no two repeats of one key are adjacent whenever that is possible (pure).

    Built round by round (each round a shuffled permutation of the keys, repeat r in round r), a
    round's first key swapped away when it equals the previous round's last. Deterministic per seed.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(seed)
    order: list[tuple[Hashable, int]] = []
    for r in range(repeats):
        perm = [keys[i] for i in rng.permutation(len(keys))]
        if order and len(perm) > 1 and perm[0] == order[-1][0]:
            j = int(rng.integers(1, len(perm)))
            perm[0], perm[j] = perm[j], perm[0]
        order.extend((key, r) for key in perm)
    return order


def significant(ratio: Interval) -> bool:
    """A ratio's interval (over at least two samples each side) excludes 1: the two differ at its level."""
    return ratio.n >= 2 and math.isfinite(ratio.half_width) and ratio.excludes(1.0)


def ratio_text(ratio: Interval, fmt: str = ".3f") -> str:
    """``1.234 ± 0.056`` for a ratio with an interval, ``(n.s.)`` appended when the interval contains 1
    (no significant difference at its level); just the value without one (a single sample each)."""
    if not math.isfinite(ratio.value):
        return "-"
    text = ratio.text(fmt)
    if ratio.n >= 2 and math.isfinite(ratio.half_width) and not significant(ratio):
        text += " (n.s.)"
    return text
