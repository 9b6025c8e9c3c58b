"""ShareGPT-format JSON replay from a local file.

Format: a JSON list of ``{"conversations": [{"from": "human", "value": ...}, {"from": "gpt",
"value": ...}, ...]}``. Each conversation gives one request: its first turn is the prompt, its
second the reference completion, whose token count is the request's output length.
``workload.input_len`` caps the prompt length (longer prompts are skipped) and
``workload.output_len`` caps the output length (``max_tokens = min(completion, output_len)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from workloads.datasets import Prompt, TokenizerLike, count_tokens

USER_ROLES = frozenset({"human", "user"})
ASSISTANT_ROLES = frozenset({"gpt", "assistant", "chatgpt", "bing", "bard"})


def read_conversations(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, completion) pairs of every conversation with at least two turns.

    Raises ``ValueError`` naming ``workload.dataset.path`` for a missing or malformed file.
    """
    data = _load(path)
    pairs: list[tuple[str, str]] = []
    for item in data:
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            continue
        first, second = turns[0], turns[1]
        if isinstance(first, dict) and isinstance(second, dict):
            prompt, completion = first.get("value"), second.get("value")
            if isinstance(prompt, str) and isinstance(completion, str) and prompt:
                pairs.append((prompt, completion))
    if not pairs:
        raise ValueError(f"workload.dataset.path={str(path)!r}: no conversation with two turns")
    return pairs


def read_sessions(path: str | Path) -> list[list[tuple[str, str]]]:
    """Every conversation as its (user, assistant) exchanges in order (``dataset.kind=conversation``).

    A conversation's exchanges are its consecutive user/assistant message pairs (roles ``human`` /
    ``user`` then ``gpt`` / ``assistant``, ...), from the first user message up to the first break
    in that alternation or an empty message; conversations with none are skipped. Raises
    ``ValueError`` naming ``workload.dataset.path`` for a missing or malformed file.
    """
    sessions: list[list[tuple[str, str]]] = []
    for item in _load(path):
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(turns, list):
            continue
        messages = [(t.get("from"), t.get("value")) for t in turns if isinstance(t, dict)]
        while messages and messages[0][0] not in USER_ROLES:  # a system prompt or a leading reply
            messages.pop(0)
        exchanges: list[tuple[str, str]] = []
        for (role, text), (reply_role, reply) in zip(messages[::2], messages[1::2], strict=False):
            ok = role in USER_ROLES and reply_role in ASSISTANT_ROLES
            if not ok or not isinstance(text, str) or not isinstance(reply, str) or not text or not reply:
                break
            exchanges.append((text, reply))
        if exchanges:
            sessions.append(exchanges)
    if not sessions:
        raise ValueError(
            f"workload.dataset.path={str(path)!r}: no conversation with a user/assistant exchange"
        )
    return sessions


def _load(path: str | Path) -> list[Any]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"workload.dataset.path={str(path)!r}: no such file")
    try:
        data: Any = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"workload.dataset.path={str(path)!r}: not readable JSON ({exc})") from None
    if not isinstance(data, list):
        raise ValueError(f"workload.dataset.path={str(path)!r}: expected a JSON list of conversations")
    return data


def sharegpt_prompts(
    tokenizer: TokenizerLike,
    pairs: list[tuple[str, str]],
    n: int,
    max_input_len: int,
    max_output_len: int,
    rng: np.random.Generator,
) -> list[Prompt]:
    """``n`` requests drawn from ``pairs`` in a seeded random order (cycling if there are fewer).

    Pairs whose prompt exceeds ``max_input_len`` tokens are skipped; the output length is the
    completion's token count (at least 1), capped at ``max_output_len``.
    """
    usable: list[Prompt] = []
    for i in rng.permutation(len(pairs)):
        prompt, completion = pairs[int(i)]
        n_in = count_tokens(tokenizer, prompt)
        if n_in > max_input_len:
            continue
        n_out = len(tokenizer(completion, add_special_tokens=False)["input_ids"])
        usable.append(Prompt(prompt, n_in, min(max(1, n_out), max_output_len)))
    if not usable and n > 0:
        raise ValueError(f"no ShareGPT prompt fits workload.input_len={max_input_len} tokens")
    return [usable[i % len(usable)] for i in range(n)]
