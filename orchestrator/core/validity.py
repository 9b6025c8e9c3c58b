"""Validity flags: what a finished point did not measure the way it claims (pure, no I/O).

A flag names a check that a run failed and why, with the figures. A flag that makes the numbers
wrong for the trial's purpose ``fails`` it (the trial becomes FAILED with the flag's kind as its
reason); one that only qualifies them leaves the trial DONE, but never a clean DONE: the flags are
shown beside the status in the summary table, the report (``DONE*``, a "Validity flags" section)
and MLflow (tag ``flags`` and a ``flag_<kind>`` metric each). The checks that raise flags live
next to what they check (:func:`workloads.checks.check_point`); this module holds only the
vocabulary.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class FlagKind(enum.StrEnum):
    SHORT_OUTPUTS = "short_outputs"  # produced fewer tokens than requested where exact lengths are needed
    PREFIX_CACHE_HITS = "prefix_cache_hits"  # the engine served part of the prompts from its prefix cache
    CLIENT_BEHIND = "client_behind"  # the client sent later than its schedule allows
    COALESCED_STREAM = "coalesced_stream"  # several tokens per SSE event: TPOT/ITL over fewer steps
    BUNCHED_STREAM = "bunched_stream"  # one token per event, but most events arrived together (ITL ~0)
    ENGINE_EXITED = "engine_exited"  # the engine process exited during the point
    UNSTABLE = "unstable"  # the repeats of a trial disagree beyond stats.max_cv
    CO_TENANCY = "co_tenancy"  # another engine instance measured on the same node at the same time
    FOREIGN_REQUESTS = "foreign_requests"  # the engine finished more requests than the client sent
    TOKEN_COUNT_MISMATCH = "token_count_mismatch"  # the engine generated another token count than counted
    RANKS_MISMATCH = "ranks_mismatch"  # the engine's processes showed another number of ranks than placed


@dataclass(frozen=True)
class Flag:
    """One failed check: its kind, a sentence with the figures, and whether it fails the trial."""

    kind: FlagKind
    reason: str
    fails: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "reason": self.reason, "fails": self.fails}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Flag:
        return cls(FlagKind(d["kind"]), str(d.get("reason", "")), bool(d.get("fails", False)))


def failing(flags: Iterable[Flag]) -> Flag | None:
    """The first flag that fails the trial, if any."""
    return next((f for f in flags if f.fails), None)


def flags_text(flags: Sequence[Mapping[str, Any]] | Sequence[Flag]) -> str:
    """``short_outputs,prefix_cache_hits``: the kinds, for a table cell or a tag ('' when none)."""
    kinds = [str(f.kind) if isinstance(f, Flag) else str(f.get("kind", "")) for f in flags]
    return ",".join(dict.fromkeys(k for k in kinds if k))
