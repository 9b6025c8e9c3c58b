"""Request traces to replay (``workload=trace``): read, checked row by row, into :class:`TraceRow`.

Formats (``workload.trace.format``; ``auto``: ``.csv`` is Azure, anything else JSON lines):

* ``jsonl``: one JSON object per line, ``timestamp`` (milliseconds, as Mooncake) or ``timestamp_s``
  (seconds), ``input_length`` or ``input_tokens``, ``output_length`` or ``output_tokens``, and
  optionally ``session_id`` (rows of one session share the session's earlier prompt as their
  prefix), ``hash_ids`` (Mooncake's prefix blocks: equal ids are equal ``block_size``-token
  blocks) or ``prefix_hash`` with ``prefix_length`` (rows with the same hash share that many
  leading tokens).
* ``mooncake``: the public Mooncake trace (``{"timestamp": 27482, "input_length": 6955,
  "output_length": 52, "hash_ids": [46, 47, ...]}``, timestamp in ms): exactly these field names.
* ``azure``: the Azure LLM inference trace, CSV with the header ``TIMESTAMP,ContextTokens,
  GeneratedTokens`` (``TIMESTAMP`` a date-time such as ``2023-11-16 18:15:46.6805900``, or seconds).

A missing file, a row that is not an object, a missing or mistyped field is a
:class:`~orchestrator.core.errors.ConfigError` on ``workload.trace.path`` naming the line and the
field, raised when the sweep is checked, before anything starts. Rows are replayed in timestamp
order (a stable sort: equal timestamps keep the file's order).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.core.errors import ConfigError

FIELD = "workload.trace.path"
AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True)
class TraceRow:
    """One request of a trace; ``line`` is its line in the file (1-based). An output of 0 tokens
    (a trace may hold them) is replayed as 1, the least a server generates."""

    line: int
    timestamp_s: float
    input_tokens: int
    output_tokens: int
    session_id: str | None = None
    hash_ids: tuple[int, ...] = ()
    prefix_hash: str | None = None
    prefix_tokens: int = 0


def trace_format(path: str | Path, fmt: str = "auto") -> str:
    """The format ``auto`` stands for: ``azure`` for a ``.csv`` file, else ``jsonl``."""
    if fmt != "auto":
        return fmt
    return "azure" if str(path).lower().endswith(".csv") else "jsonl"


def read_trace(path: str | Path, fmt: str = "auto") -> list[TraceRow]:
    """Every row of the trace at ``path``, in timestamp order; ConfigError on any bad row."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(FIELD, f"{path}: no such file")
    kind = trace_format(path, fmt)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(FIELD, f"{path}: not readable as UTF-8 text ({exc})") from None
    rows = _azure(str(path), text) if kind == "azure" else _jsonl(str(path), text, strict=kind == "mooncake")
    if not rows:
        raise ConfigError(FIELD, f"{path}: the trace has no requests")
    return sorted(rows, key=lambda r: r.timestamp_s)


def clipped(row: TraceRow, max_input_len: int | None, max_output_len: int | None) -> tuple[int, int]:
    """The (input, output) tokens a row is replayed with: its own, clipped to the caps (None or 0:
    none); an output of 0 becomes 1."""
    n_in = min(row.input_tokens, max_input_len) if max_input_len else row.input_tokens
    n_out = max(row.output_tokens, 1)
    return n_in, min(n_out, max_output_len) if max_output_len else n_out


def check_fits(
    path: str, rows: list[TraceRow], max_model_len: int, max_input_len: int | None, max_output_len: int | None
) -> None:
    """ConfigError naming the first row whose (clipped) input + output exceeds ``max_model_len``."""
    for row in rows:
        n_in, n_out = clipped(row, max_input_len, max_output_len)
        if n_in + n_out > max_model_len:
            raise ConfigError(
                FIELD,
                f"{path} line {row.line}: input {n_in} + output {n_out} tokens exceed "
                f"model.max_model_len={max_model_len}; clip the rows with workload.trace.max_input_len / "
                "max_output_len or raise model.max_model_len",
            )


def replay_offsets(rows: list[TraceRow], time_scale: float) -> list[float]:
    """Send offsets (s) from the first row: the trace's gaps times ``time_scale``."""
    if not rows:
        return []
    t0 = rows[0].timestamp_s
    return [(r.timestamp_s - t0) * time_scale for r in rows]


class _Bad(Exception):
    """A bad field of one row (its name and what is wrong); the reader adds path and line."""


def _fail(path: str, line: int, exc: _Bad) -> ConfigError:
    return ConfigError(FIELD, f"{path} line {line}: {exc}")


def _count(obj: dict[str, Any], names: tuple[str, ...], *, minimum: int = 1) -> int:
    key = next((n for n in names if n in obj), None)
    if key is None:
        raise _Bad(f"missing field {' or '.join(repr(n) for n in names)}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Bad(f"field {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _timestamp(obj: dict[str, Any], *, strict: bool) -> float:
    names = ("timestamp",) if strict else ("timestamp", "timestamp_s")
    key = next((n for n in names if n in obj), None)
    if key is None:
        raise _Bad(f"missing field {' or '.join(repr(n) for n in names)}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise _Bad(f"field {key!r} must be a number >= 0, got {value!r}")
    return float(value) / 1000.0 if key == "timestamp" else float(value)


def _row(line: int, obj: Any, *, strict: bool) -> TraceRow:
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object, got {type(obj).__name__}")
    ts = _timestamp(obj, strict=strict)
    n_in = _count(obj, ("input_length",) if strict else ("input_length", "input_tokens"))
    n_out = _count(obj, ("output_length",) if strict else ("output_length", "output_tokens"), minimum=0)
    hashes = obj.get("hash_ids", [])
    if not isinstance(hashes, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) and h >= 0 for h in hashes
    ):
        raise _Bad(f"field 'hash_ids' must be a list of integers >= 0, got {str(hashes)[:80]}")
    session = _ident(obj, "session_id")
    prefix = _ident(obj, "prefix_hash")
    prefix_tokens = 0
    if prefix is not None:
        prefix_tokens = _count(obj, ("prefix_length", "prefix_tokens"))
        if prefix_tokens > n_in:
            raise _Bad(f"field 'prefix_length' ({prefix_tokens}) is above the input length ({n_in})")
    return TraceRow(line, ts, n_in, n_out, session, tuple(hashes), prefix, prefix_tokens)


def _ident(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Bad(f"field {key!r} must be a string or an integer, got {value!r}")
    return str(value)


def _jsonl(path: str, text: str, *, strict: bool) -> list[TraceRow]:
    rows: list[TraceRow] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(FIELD, f"{path} line {n}: not JSON ({exc})") from None
        try:
            rows.append(_row(n, obj, strict=strict))
        except _Bad as exc:
            raise _fail(path, n, exc) from None
    return rows


def _azure(path: str, text: str) -> list[TraceRow]:
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    names = [h.strip() for h in header or []]
    missing = [c for c in AZURE_COLUMNS if c not in names]
    if missing:
        raise ConfigError(
            FIELD,
            f"{path} line 1: the header lacks {', '.join(missing)} (expected {','.join(AZURE_COLUMNS)})",
        )
    at = {c: names.index(c) for c in AZURE_COLUMNS}
    rows: list[TraceRow] = []
    for n, cells in enumerate(reader, start=2):
        if not cells or not any(c.strip() for c in cells):
            continue
        try:
            if len(cells) < len(names):
                raise _Bad(f"{len(cells)} columns, the header has {len(names)}")
            stamp = cells[at["TIMESTAMP"]].strip()
            ts = _azure_time(stamp)
            n_in = _int(cells[at["ContextTokens"]], "ContextTokens", 1)
            n_out = _int(cells[at["GeneratedTokens"]], "GeneratedTokens", 0)
        except _Bad as exc:
            raise _fail(path, n, exc) from None
        rows.append(TraceRow(n, ts, n_in, n_out))
    return rows


def _int(cell: str, name: str, minimum: int) -> int:
    try:
        value = int(cell.strip())
    except ValueError:
        raise _Bad(f"field {name!r} must be an integer, got {cell.strip()[:40]!r}") from None
    if value < minimum:
        raise _Bad(f"field {name!r} must be an integer >= {minimum}, got {value}")
    return value


def _azure_time(stamp: str) -> float:
    """Seconds of a TIMESTAMP cell: a number as it is, a date-time as POSIX seconds (UTC)."""
    try:
        value = float(stamp)
    except ValueError:
        pass
    else:
        if not 0 <= value < math.inf:
            raise _Bad(f"field 'TIMESTAMP' must be a number >= 0 or a date-time, got {stamp!r}")
        return value
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        raise _Bad(f"field 'TIMESTAMP' is neither a number nor a date-time: {stamp[:40]!r}") from None
    return when.replace(tzinfo=when.tzinfo or UTC).timestamp()
