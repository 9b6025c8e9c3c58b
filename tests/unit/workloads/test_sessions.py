"""Conversation sessions on a scripted clock: turn order, think time, session starts, closed-loop
session concurrency, exact history lengths, failures and constraints."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any

import numpy as np
import pytest

from workloads.constraints import Constraints, StopTracker
from workloads.conversations import SessionPlan, join_history, synthetic_sessions, turn_bodies
from workloads.datasets import count_tokens
from workloads.records import RequestRecord
from workloads.sessions import run_sessions

transformers = pytest.importorskip("transformers")

MS = 1_000_000
TTFT, ITL = 20 * MS, 5 * MS


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from engines.tiny_model import ensure_tiny_model

    return transformers.PreTrainedTokenizerFast.from_pretrained(str(ensure_tiny_model()))


class VirtualClock:
    """Scripted time: it stands still while any task can run, then jumps to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> int:
        return self.now

    async def wait_until(self, t: int) -> None:
        if t <= self.now:
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (t, self._seq, fut))
        self._seq += 1
        await fut

    def run(self, coro: Coroutine[Any, Any, list[RequestRecord]]) -> list[RequestRecord]:
        async def drive() -> list[RequestRecord]:
            task = asyncio.ensure_future(coro)
            while not task.done():
                for _ in range(50):
                    await asyncio.sleep(0)
                if task.done():
                    break
                assert self._waiters, "every task is blocked on something other than the clock"
                t, _, fut = heapq.heappop(self._waiters)
                self.now = max(self.now, t)
                fut.set_result(None)
            return task.result()

        return asyncio.run(drive())


class ScriptedServer:
    """A request function: first token TTFT after the send, then one every ITL; no usage (so the
    record keeps the client's expected prompt length); the reply is ``max_tokens`` words."""

    def __init__(self, clock: VirtualClock, fail: frozenset[int] = frozenset()) -> None:
        self.clock = clock
        self.fail = fail
        self.sent: list[tuple[int, int, dict[str, Any]]] = []  # (request id, sent, payload)
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, _session: Any, _url: str, payload: dict[str, Any], **kw: Any) -> RequestRecord:
        sent = self.clock()
        rid = kw["request_id"]
        self.sent.append((rid, sent, payload))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        n = payload["max_tokens"]
        times = [sent + TTFT + i * ITL for i in range(n)]
        for t in times:
            await self.clock.wait_until(t)
        self.in_flight -= 1
        ok = rid not in self.fail
        return RequestRecord(
            request_id=rid,
            scheduled_ns=kw["scheduled_ns"],
            sent_ns=sent,
            end_ns=times[-1],
            token_times_ns=times,
            input_tokens=kw["input_tokens"],
            output_tokens=n,
            ok=ok,
            error_kind=None if ok else "http",
            output_text=" ".join(f"w{(rid * 31 + i) % 1000}" for i in range(n)),
        )


def _run(plans: list[SessionPlan], server: ScriptedServer, **kw: Any) -> list[RequestRecord]:
    body = turn_bodies("tiny", kw.pop("api", "completions"), ignore_eos=True)
    clock = server.clock
    coro = run_sessions(
        "http://x/v1/completions",
        plans,
        body,
        timeout_s=5,
        request=server,
        clock=clock,
        wait_until=clock.wait_until,
        **kw,
    )
    return server.clock.run(coro)


def _plans(n: int, turns: int, out: int = 4) -> list[SessionPlan]:
    return [
        SessionPlan(i, tuple(f"u{i}.{k}" for k in range(turns)), (3,) * turns, (out,) * turns)
        for i in range(n)
    ]


def test_turns_follow_responses_plus_think_time_with_the_whole_history() -> None:
    server = ScriptedServer(VirtualClock())
    records = _run(_plans(2, 3), server, starts_s=[0.0, 0.5], think_time_s=0.25)
    assert [(r.session, r.turn, r.request_id) for r in records] == [
        (0, 1, 0), (0, 2, 1), (0, 3, 2), (1, 1, 3), (1, 2, 4), (1, 3, 5),
    ]  # fmt: skip
    for s, start in ((0, 0), (1, 500 * MS)):
        turns = [r for r in records if r.session == s]
        assert turns[0].scheduled_ns == turns[0].sent_ns == start  # sessions start by the arrivals
        for prev, nxt in itertools.pairwise(turns):
            assert nxt.scheduled_ns == prev.end_ns + 250 * MS == nxt.sent_ns  # response, then think
            assert nxt.send_delay_ns == 0
    prompts = {rid: p["prompt"] for rid, _, p in server.sent}
    assert prompts[0] == "u0.0"
    assert prompts[1] == join_history(["u0.0", records[0].output_text, "u0.1"])
    assert prompts[2] == join_history([prompts[1], records[1].output_text, "u0.2"])


def test_chat_turns_send_alternating_messages() -> None:
    server = ScriptedServer(VirtualClock())
    records = _run(_plans(1, 2), server, starts_s=[0.0], api="chat")
    messages = server.sent[1][2]["messages"]
    assert messages == [
        {"role": "user", "content": "u0.0"},
        {"role": "assistant", "content": records[0].output_text},
        {"role": "user", "content": "u0.1"},
    ]


def test_closed_loop_concurrency_counts_sessions() -> None:
    server = ScriptedServer(VirtualClock())
    records = _run(_plans(3, 2), server, concurrency=2)
    assert len(records) == 6 and server.max_in_flight == 2
    by_session = {s: [r for r in records if r.session == s] for s in range(3)}
    first_done = min(by_session[s][-1].end_ns for s in (0, 1))
    assert by_session[2][0].sent_ns == first_done  # the third session starts when one ended
    assert all(r.turn == 2 for r in records if r.sent_ns > 0 and r.session < 2)


def test_a_failed_turn_ends_its_session_only() -> None:
    server = ScriptedServer(VirtualClock(), fail=frozenset({1}))  # session 0, turn 2
    records = _run(_plans(2, 3), server, starts_s=[0.0, 0.0])
    assert [(r.session, r.turn, r.ok) for r in records] == [
        (0, 1, True), (0, 2, False), (1, 1, True), (1, 2, True), (1, 3, True),
    ]  # fmt: skip


def test_a_constraint_stops_every_later_turn() -> None:
    server = ScriptedServer(VirtualClock())
    tracker = StopTracker(Constraints(duration_s=0.1))
    records = _run(_plans(2, 3, out=10), server, starts_s=[0.0, 0.05], tracker=tracker)
    assert tracker.reason == "duration"
    # each turn lasts 20 + 9 * 5 = 65 ms: session 0's turn 2 leaves at 65 ms, within the 100 ms;
    # its turn 3 (130 ms) and session 1's turn 2 (50 + 65 = 115 ms) would leave after them
    assert [(r.session, r.turn) for r in records] == [(0, 1), (0, 2), (1, 1)]


def test_synthetic_history_lengths_are_exact(tokenizer: Any) -> None:
    plans = synthetic_sessions(tokenizer, 3, 4, 32, 6, np.random.default_rng(0))
    server = ScriptedServer(VirtualClock())
    records = _run(plans, server, starts_s=[0.0, 0.1, 0.2], think_time_s=0.01)
    assert len(records) == 12 and all(r.ok for r in records)
    prompts = {rid: p["prompt"] for rid, _, p in server.sent}
    for s in range(3):
        turns = [r for r in records if r.session == s]
        lengths = [count_tokens(tokenizer, prompts[r.request_id]) for r in turns]
        # turn 1: input_len; every later turn: the previous prompt + its reply + input_len
        assert lengths == [32, 32 + 6 + 32, 32 + 2 * (6 + 32), 32 + 3 * (6 + 32)]
        assert [r.input_tokens for r in turns] == lengths  # what the client expected, exactly
    firsts = [tokenizer(prompts[r.request_id])["input_ids"][1] for r in records if r.turn == 1]
    assert len(set(firsts)) == 3  # no two sessions share even a first token


def test_arguments_are_checked() -> None:
    server = ScriptedServer(VirtualClock())
    with pytest.raises(ValueError, match="not both"):
        _run(_plans(1, 1), server, starts_s=[0.0], concurrency=1)
    with pytest.raises(ValueError, match="1 session starts for 2"):
        _run(_plans(2, 1), server, starts_s=[0.0])
