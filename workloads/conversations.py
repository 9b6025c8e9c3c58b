"""Conversation datasets (``dataset.kind=conversation``): multi-turn sessions and their request bodies.

A session is a list of user turns, each with the tokens it adds to the prompt and the output length
asked of its reply. Turn k+1 carries the whole history: every earlier user turn and the reply the
server really gave to it (its answer text), then the new user turn. Completions join the pieces
into one prompt (a single space between two pieces where neither side has one); chat sends them
as alternating ``user``/``assistant`` messages.

* Synthetic (``dataset.path`` unset): ``turns`` turns per session. Turn 1 is exactly
  ``input_len`` tokens (special tokens included, as the ``random`` dataset), each later turn adds
  exactly ``input_len`` tokens of fresh text (its content alone: the special tokens are not
  repeated), and every reply asks for ``output_len`` tokens. So turn k's prompt is turn k-1's
  prompt + its reply + ``input_len`` tokens, exactly, for any tokenizer that does not merge tokens
  across a space (the tiny model's word-level one; byte-level BPEs split before a space too); the
  server's own ``prompt_tokens`` are recorded either way. No two sessions share even a first token
  (:func:`workloads.datasets.distinct_prompts`), so a prefix cache can serve a session only from
  its own history.
* ShareGPT (``dataset.path``): each conversation's user/assistant exchanges in order
  (:func:`workloads.sharegpt.read_sessions`), at most ``turns``: the user messages are sent as they
  are, and each reference reply's token count, capped at ``output_len``, is the output length asked
  of the server (whose own reply, not the reference, goes into the history). A session ends before
  a user message longer than ``input_len`` tokens; conversations are drawn in a seeded random order,
  cycling when there are fewer than sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workloads.datasets import TokenizerLike, count_tokens, distinct_prompts, random_prompts

Exchange = tuple[str, str]
"""One finished turn of a session: (the user's text, the server's answer text)."""


@dataclass(frozen=True)
class SessionPlan:
    """One session: each turn's new user text, the tokens it adds, and the reply length asked."""

    index: int
    users: tuple[str, ...]
    user_tokens: tuple[int, ...]
    output_lens: tuple[int, ...]

    @property
    def turns(self) -> int:
        return len(self.users)


def synthetic_sessions(
    tokenizer: TokenizerLike, n: int, turns: int, input_len: int, output_len: int, rng: np.random.Generator
) -> list[SessionPlan]:
    """``n`` sessions of ``turns`` turns (module doc: exact lengths, no prefix shared between sessions)."""
    if turns < 1:
        raise ValueError(f"workload.dataset.turns must be >= 1, got {turns}")
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    firsts = distinct_prompts(tokenizer, n, input_len, rng)
    # a prompt of input_len + the special tokens: its content alone is input_len tokens
    later = random_prompts(tokenizer, n * (turns - 1), input_len + n_special, rng)
    plans = []
    for i, first in enumerate(firsts):
        texts = [first.text, *(p.text for p in later[i * (turns - 1) : (i + 1) * (turns - 1)])]
        plans.append(
            SessionPlan(i, tuple(texts), (input_len,) + (input_len,) * (turns - 1), (output_len,) * turns)
        )
    return plans


def sharegpt_sessions(
    tokenizer: TokenizerLike,
    conversations: Sequence[Sequence[Exchange]],
    n: int,
    turns: int,
    max_input_len: int,
    max_output_len: int,
    rng: np.random.Generator,
) -> list[SessionPlan]:
    """``n`` sessions from ShareGPT conversations (module doc); ValueError when none fits."""
    usable: list[tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]] = []
    for c in rng.permutation(len(conversations)):
        users: list[str] = []
        adds: list[int] = []
        outs: list[int] = []
        for k, (user, reply) in enumerate(conversations[int(c)][:turns]):
            added = count_tokens(tokenizer, user) if k == 0 else _content_tokens(tokenizer, user)
            if added > max_input_len:
                break
            users.append(user)
            adds.append(added)
            outs.append(min(max(1, _content_tokens(tokenizer, reply)), max_output_len))
        if users:
            usable.append((tuple(users), tuple(adds), tuple(outs)))
    if not usable and n > 0:
        raise ValueError(
            f"no ShareGPT conversation starts with a turn of at most workload.input_len={max_input_len}"
        )
    return [SessionPlan(i, *usable[i % len(usable)]) for i in range(n)]


def _content_tokens(tokenizer: TokenizerLike, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def join_history(pieces: Sequence[str]) -> str:
    """The pieces in order, a single space between two where neither side has whitespace."""
    out: list[str] = []
    for piece in pieces:
        if out and piece and not out[-1][-1:].isspace() and not piece[:1].isspace():
            out.append(" ")
        if piece:
            out.append(piece)
    return "".join(out)


BodyFn = Callable[[Sequence[Exchange], str, int], dict[str, Any]]
"""(history, new user text, max_tokens) -> the request body of the next turn."""


def turn_bodies(model: str, api: str, *, ignore_eos: bool, temperature: float = 0.0) -> BodyFn:
    """The :data:`BodyFn` of one run: completions join the history into the prompt, chat sends
    messages; sampling fields as :func:`workloads.driver.build_payloads` sets them."""

    def body(history: Sequence[Exchange], user: str, max_tokens: int) -> dict[str, Any]:
        out: dict[str, Any] = {"model": model}
        if api == "chat":
            messages = []
            for said, answer in history:
                messages += [{"role": "user", "content": said}, {"role": "assistant", "content": answer}]
            out["messages"] = [*messages, {"role": "user", "content": user}]
        else:
            out["prompt"] = join_history([piece for pair in history for piece in pair] + [user])
        out.update(max_tokens=max_tokens, ignore_eos=ignore_eos, temperature=temperature)
        if ignore_eos:
            out["min_tokens"] = max_tokens
        return out

    return body
