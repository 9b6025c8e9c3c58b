"""A trial's status and, when FAILED, its reason (the values stored in ``result.json``)."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    PENDING = "PENDING"  # not recorded yet (the summary table)
    DONE = "DONE"
    FAILED = "FAILED"


class FailureReason(enum.StrEnum):
    OOM = "oom"
    ENGINE_CRASH = "engine_crash"
    TIMEOUT = "timeout"
    PORT_IN_USE = "port_in_use"
    BAD_CONFIG = "bad_config"
    REQUEST_ERRORS = "request_errors"
    CLIENT_BEHIND = "client_behind"
    NODE_LOST = "node_lost"
    INTERRUPTED = "interrupted"
    # validity flags that fail a trial (orchestrator.core.validity.FlagKind of the same value)
    SHORT_OUTPUTS = "short_outputs"
    PREFIX_CACHE_HITS = "prefix_cache_hits"
    BUNCHED_STREAM = "bunched_stream"
