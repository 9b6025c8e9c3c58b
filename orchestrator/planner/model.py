"""Latency model of one (TP, CP) GPU group processing a set of packed sequences.

One sequence of ``s`` tokens on a group of ``tp`` tensor-parallel × ``cp`` context-parallel GPUs
(``k = s / 1024``, kilo-tokens) takes, in milliseconds::

    f(s, tp, cp) = attn · k² / (tp·cp)            attention: quadratic in the sequence length
                 + linear · k / (tp·cp)           projections, MLP, norms: linear in tokens
                 + tp_comm · k/cp · (tp−1)/tp     TP all-reduce volume of the tokens on a CP rank
                 + cp_comm · k/tp · (cp−1)/cp     CP (ring) exchange of the other ranks' K/V shard
                 + tp_step · (tp−1)               per-collective latency of the TP ring
                 + cp_step · (cp−1)               per-step latency of the CP ring
                 + fixed                          kernel launches, scheduling

Every term is linear in its coefficient, so the coefficients are fitted by (non-negative) least
squares from measured (s, tp, cp) → latency points (see ``calibration.py``). A group processes its
sequences one after another inside one packed micro-batch with document masking, so a group's
latency is the sum over its sequences (the same additive form WLB-LLM's packing balances), and a
batch's latency is its slowest group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

TOKENS_PER_UNIT = 1024  # features use kilo-tokens so the least-squares problem is well conditioned

TERMS = ("attn", "linear", "tp_comm", "cp_comm", "tp_step", "cp_step", "fixed")


def features(seq_len: int, tp: int, cp: int) -> list[float]:
    """The model's regressors for one sequence, in the order of ``TERMS``."""
    k = seq_len / TOKENS_PER_UNIT
    g = tp * cp
    return [
        k * k / g,
        k / g,
        k / cp * (tp - 1) / tp,
        k / tp * (cp - 1) / cp,
        float(tp - 1),
        float(cp - 1),
        1.0,
    ]


@dataclass(frozen=True)
class LatencyModel:
    """Fitted coefficients (milliseconds per the units in the module docstring)."""

    attn: float
    linear: float
    tp_comm: float
    cp_comm: float
    tp_step: float
    cp_step: float
    fixed: float

    @classmethod
    def from_coefficients(cls, values: Sequence[float]) -> LatencyModel:
        if len(values) != len(TERMS):
            raise ValueError(f"expected {len(TERMS)} coefficients ({', '.join(TERMS)}), got {len(values)}")
        return cls(*(float(v) for v in values))

    def coefficients(self) -> list[float]:
        return [getattr(self, t) for t in TERMS]

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def seq_latency(self, seq_len: int, tp: int, cp: int) -> float:
        """Milliseconds for one sequence of ``seq_len`` tokens on a (tp, cp) group."""
        if seq_len <= 0 or tp <= 0 or cp <= 0:
            raise ValueError(f"seq_len, tp and cp must be > 0, got ({seq_len}, {tp}, {cp})")
        return sum(c * x for c, x in zip(self.coefficients(), features(seq_len, tp, cp), strict=True))

    def group_latency(self, lengths: Iterable[int], tp: int, cp: int) -> float:
        """Milliseconds for a (tp, cp) group processing ``lengths`` (0 for an empty group).

        Computed from the multiset of lengths in one fixed order (longest first), so the same
        multiset always gives bit-identical results: the planner's exact search and the
        baselines are compared with this one function.
        """
        return self.counts_latency(Counter(lengths), tp, cp)

    def counts_latency(self, counts: Mapping[int, int], tp: int, cp: int) -> float:
        """``group_latency`` for a {length: count} multiset (zero counts are ignored)."""
        return sum(n * self.seq_latency(s, tp, cp) for s, n in sorted(counts.items(), reverse=True) if n)
