"""Trace replay: the formats, every malformed row as a ConfigError naming line and field, the
prompts' exact lengths and shared prefixes, and the pacing of a replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.core.errors import ConfigError
from orchestrator.core.load import LoadSpec
from orchestrator.core.validity import FlagKind
from tests.unit.workloads.test_datasets import bpe_tokenizer, tiny_tokenizer  # noqa: F401 (fixtures)
from tests.unit.workloads.test_strategies import fake_server
from workloads.checks import check_point
from workloads.datasets import count_tokens
from workloads.point_run import Target
from workloads.strategies import run_strategy
from workloads.trace import TraceRow, read_trace, replay_offsets
from workloads.trace_prompts import trace_prompts

MOONCAKE = [
    {"timestamp": 0, "input_length": 40, "output_length": 3, "hash_ids": [0, 1]},
    {"timestamp": 50, "input_length": 30, "output_length": 2, "hash_ids": [0, 2]},
    {"timestamp": 120, "input_length": 12, "output_length": 4, "hash_ids": [3]},
    {"timestamp": 125, "input_length": 20, "output_length": 1, "hash_ids": [0, 1]},
]


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_mooncake_rows_in_milliseconds(tmp_path: Path) -> None:
    rows = read_trace(_jsonl(tmp_path / "m.jsonl", MOONCAKE), "mooncake")
    assert [r.timestamp_s for r in rows] == [0.0, 0.05, 0.12, 0.125]
    assert rows[0] == TraceRow(1, 0.0, 40, 3, hash_ids=(0, 1))
    assert replay_offsets(rows, 2.0) == pytest.approx([0.0, 0.1, 0.24, 0.25])  # gaps times the scale
    assert read_trace(tmp_path / "m.jsonl") == rows  # auto: JSON lines


def test_our_jsonl_fields_and_timestamp_order(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [
        {"timestamp_s": 2.5, "input_tokens": 9, "output_tokens": 0, "session_id": 7},
        "",
        {"timestamp_s": 1.0, "input_tokens": 8, "output_tokens": 2, "prefix_hash": "sys", "prefix_length": 4},
    ])  # fmt: skip
    rows = read_trace(path, "jsonl")
    assert [(r.line, r.timestamp_s) for r in rows] == [(3, 1.0), (1, 2.5)]  # replayed by time
    assert rows[0].prefix_hash == "sys" and rows[0].prefix_tokens == 4
    assert rows[1].session_id == "7" and rows[1].output_tokens == 0


def test_azure_csv(tmp_path: Path) -> None:
    path = tmp_path / "AzureLLMInferenceTrace_conv.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n"
        "2023-11-16 18:15:51.0000000,1,0\n"
    )
    rows = read_trace(path)
    assert [(r.input_tokens, r.output_tokens) for r in rows] == [(374, 44), (396, 109), (1, 0)]
    assert replay_offsets(rows, 1.0) == pytest.approx([0.0, 4.314579, 4.31941])
    numeric = tmp_path / "n.csv"
    numeric.write_text("ContextTokens,GeneratedTokens,TIMESTAMP\n5,6,0.5\n7,8,1.25\n")
    assert replay_offsets(read_trace(numeric, "azure"), 1.0) == [0.0, 0.75]


BAD_JSONL = [
    (['{"timestamp": 0, "input_length": 4, "output_length": 1}', "{not json"], 2, "not JSON"),
    ([[1, 2]], 1, "expected a JSON object"),
    ([{"timestamp": 0, "output_length": 1}], 1, "missing field 'input_length' or 'input_tokens'"),
    ([{"timestamp": 0, "input_length": 0, "output_length": 1}], 1, "'input_length' must be an integer >= 1"),
    ([{"timestamp": -1, "input_length": 3, "output_length": 1}], 1, "'timestamp' must be a number >= 0"),
    ([{"timestamp": 0, "input_length": 3, "output_length": "2"}], 1, "'output_length' must be an integer"),
    ([{"timestamp": 0, "input_length": 3, "output_length": 1, "hash_ids": [1, "a"]}], 1, "'hash_ids'"),
    ([{"timestamp": 0, "input_length": 3, "output_length": 1, "prefix_hash": "p"}], 1, "'prefix_length'"),
    ([{"timestamp": 0, "input_length": 3, "output_length": 1, "prefix_hash": 1, "prefix_length": 5}], 1,
     "'prefix_length' (5) is above the input length (3)"),
    ([{"timestamp": 0, "input_length": 3, "output_length": 1, "session_id": [1]}], 1, "'session_id'"),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "line", "why"), BAD_JSONL)
def test_a_malformed_row_names_its_line_and_field(
    tmp_path: Path, rows: list[Any], line: int, why: str
) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ConfigError) as err:
        read_trace(path)
    assert err.value.field == "workload.trace.path"
    assert f"line {line}: " in str(err.value) and why in str(err.value)


def test_mooncake_format_wants_its_own_field_names(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "ours.jsonl", [{"timestamp_s": 0, "input_tokens": 3, "output_tokens": 1}])
    with pytest.raises(ConfigError, match="line 1: missing field 'timestamp'"):
        read_trace(path, "mooncake")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("TIMESTAMP,ContextTokens\n0,1\n", "line 1: the header lacks GeneratedTokens"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n0,5,1\nyesterday,5,1\n", "line 3: field 'TIMESTAMP'"),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n0,five,1\n",
            "line 2: field 'ContextTokens' must be an int",
        ),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n0,5\n", "line 2: 2 columns, the header has 3"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "the trace has no requests"),
    ],
)
def test_a_malformed_azure_trace_names_its_line_and_field(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"workload\.trace\.path") as err:
        read_trace(path)
    assert why in str(err.value)


def test_a_missing_trace_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_trace(tmp_path / "nope.jsonl")


def _ids(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def test_prompts_share_what_the_trace_shares(tmp_path: Path, tiny_tokenizer: Any) -> None:  # noqa: F811
    tok = tiny_tokenizer
    rows = read_trace(_jsonl(tmp_path / "m.jsonl", MOONCAKE))
    extra = [
        TraceRow(5, 1.0, 10, 2, prefix_hash="sys", prefix_tokens=6),
        TraceRow(6, 1.1, 12, 2, prefix_hash="sys", prefix_tokens=6),
        TraceRow(7, 1.2, 8, 2, session_id="a"),
        TraceRow(8, 1.3, 14, 2, session_id="a"),
        TraceRow(9, 1.4, 900, 900),
    ]
    prompts, changed = trace_prompts(tok, rows + extra, 500, 64, 16, seed=3)
    assert [p.input_tokens for p in prompts] == [40, 30, 12, 20, 10, 12, 8, 14, 500]
    assert [count_tokens(tok, p.text) for p in prompts] == [p.input_tokens for p in prompts]
    assert [p.output_len for p in prompts] == [3, 2, 4, 1, 2, 2, 2, 2, 64] and changed == 1
    ids = [_ids(tok, p.text) for p in prompts]
    assert ids[0][:16] == ids[1][:16] and ids[0][16] != ids[1][16]  # hash 0 shared, then 1 vs 2
    assert ids[3] == ids[0][:19]  # [0, 1] again: the same blocks, cut to its length (BOS aside)
    assert ids[2][:1] != ids[0][:1]
    assert ids[4][:6] == ids[5][:6] and ids[4][6:9] != ids[5][6:9]  # the prefix, then their own
    assert ids[7][:7] == ids[6]  # a session's row begins with the session's previous prompt
    again, _ = trace_prompts(tok, rows + extra, 500, 64, 16, seed=3)
    assert [p.text for p in again] == [p.text for p in prompts]  # deterministic per seed


def test_prompts_are_exact_for_a_bpe_tokenizer(bpe_tokenizer: Any) -> None:  # noqa: F811
    rows = [TraceRow(i + 1, i * 0.1, n, 4, hash_ids=(0, i % 2)) for i, n in enumerate([30, 45, 60])]
    prompts, _ = trace_prompts(bpe_tokenizer, rows, 128, 8, 20, seed=0)
    assert [count_tokens(bpe_tokenizer, p.text) for p in prompts] == [30, 45, 60]


def test_replay_sends_at_the_trace_timestamps(tmp_path: Path, tiny_tokenizer: Any) -> None:  # noqa: F811
    rows = [{"timestamp": t, "input_length": 8, "output_length": 2} for t in (0, 40, 100, 100, 180, 300)]
    path = _jsonl(tmp_path / "t.jsonl", rows)
    spec = LoadSpec(
        name="trace", trace_path=str(path), trace_format="auto", time_scale=0.5, trace_block_size=16,
        input_len=0, output_len=0, num_requests=5, warmup_requests=2, timeout_s=10.0,
    )  # fmt: skip  # no caps: the rows' own lengths
    with fake_server() as (url, prompts):
        outcome = run_strategy(spec, Target(url, "m", tiny_tokenizer))
    m = outcome.metrics
    measured = [r for r in outcome.records if not r.warmup]
    assert len(prompts) == 2 + 5 and all(r.ok for r in outcome.records)
    assert [r.request_id for r in measured] == [2, 3, 4, 5, 6]  # the first num_requests rows
    start = measured[0].scheduled_ns
    planned = [(r.scheduled_ns - start) / 1e6 for r in measured]
    assert planned == pytest.approx([0, 20, 50, 50, 90], abs=1e-3)  # ms: the gaps times 0.5
    assert m["send_delay_p99_ms"] < spec.max_send_delay_ms and m["valid"]
    assert m["trace_rows"] == 5 and m["trace_changed_rows"] == 0 and m["trace_span_s"] == pytest.approx(0.09)
    assert m["requested_output_tokens"] == 2 and m["total_input_tokens"] == 5 * 8
    assert all(r.output_tokens == 2 for r in outcome.records)  # the warmups too: the first rows' lengths
    assert FlagKind.PREFIX_CACHE_HITS not in {
        f.kind
        for f in check_point(
            spec, {**m, "engine_prefix_cache_hits": 9.0, "engine_prefix_cache_queries": 10.0}
        )
    }
    assert np.all(np.diff([r.sent_ns for r in measured]) >= 0)
