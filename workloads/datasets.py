"""Prompt sources. Lengths are exact as the engine's tokenizer counts them, special tokens included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

DEFAULT_MAX_TRIES = 64
_MAX_DRAW_ROUNDS = 100


@dataclass(frozen=True)
class Prompt:
    """A prompt and its length in tokens (``len(tokenizer(text)["input_ids"])``).

    ``output_len`` is a per-prompt output length (dataset replay); None = the workload's.
    """

    text: str
    input_tokens: int
    output_len: int | None = None


class TokenizerLike(Protocol):
    """The slice of a Hugging Face tokenizer that this module uses."""

    all_special_ids: list[int]

    def __call__(self, text: str, *, add_special_tokens: bool = True) -> Mapping[str, Any]: ...

    def decode(self, token_ids: Sequence[int], *, skip_special_tokens: bool = False) -> str: ...

    def get_vocab(self) -> dict[str, int]: ...

    def num_special_tokens_to_add(self, pair: bool = False) -> int: ...


def count_tokens(tokenizer: TokenizerLike, text: str) -> int:
    """Tokens in ``text`` as the server counts a prompt: special tokens (BOS ...) included."""
    return len(tokenizer(text)["input_ids"])


def random_prompts(
    tokenizer: TokenizerLike,
    n: int,
    input_len: int,
    rng: np.random.Generator,
    *,
    max_tries: int = DEFAULT_MAX_TRIES,
) -> list[Prompt]:
    """``n`` random prompts of exactly ``input_len`` tokens each (special tokens included).

    Token ids are drawn from the non-special vocabulary, decoded, re-encoded, and trimmed or extended
    until the re-encoded length is exact (merges across the decode/encode round trip make a first
    draw miss for BPE tokenizers). Raises ``ValueError`` naming ``workload.input_len`` when that
    length is below the tokenizer's special-token count or cannot be hit within ``max_tries``.
    """
    if n < 0:
        raise ValueError(f"number of prompts must be >= 0, got {n}")
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    if input_len < n_special:
        raise ValueError(
            f"workload.input_len={input_len} is below the {n_special} special token(s) "
            "the tokenizer adds to every prompt"
        )
    special = frozenset(tokenizer.all_special_ids)
    sampler = TokenSampler(tokenizer, special, rng)
    return [
        Prompt(
            exact_text(tokenizer, sampler, special, input_len - n_special, input_len, max_tries), input_len
        )
        for _ in range(n)
    ]


class TokenSampler:
    """Draws random non-special ids that decode alone to valid text (no partial UTF-8 byte tokens).

    Validity is checked lazily for drawn ids only and cached for the duration of one call.
    """

    def __init__(self, tokenizer: TokenizerLike, special: frozenset[int], rng: np.random.Generator) -> None:
        self._tokenizer = tokenizer
        self._rng = rng
        self._ids = np.array(sorted(set(tokenizer.get_vocab().values()) - special), dtype=np.int64)
        self._valid: dict[int, bool] = {}

    def draw(self, k: int, rng: np.random.Generator | None = None) -> list[int]:
        """``k`` valid ids from the sampler's generator, or from ``rng`` when given."""
        rng = self._rng if rng is None else rng
        out: list[int] = []
        for _ in range(_MAX_DRAW_ROUNDS):
            if len(out) >= k:
                return out
            if self._ids.size == 0:
                break
            candidates = rng.choice(self._ids, size=2 * (k - len(out)) + 8)
            out.extend(i for i in map(int, candidates) if self._is_valid(i))
            del out[k:]
        if len(out) >= k:
            return out
        raise ValueError("the tokenizer has too few non-special tokens that decode to valid text")

    def _is_valid(self, token_id: int) -> bool:
        if token_id not in self._valid:
            piece = self._tokenizer.decode([token_id])
            self._valid[token_id] = bool(piece) and "\ufffd" not in piece
        return self._valid[token_id]


def exact_text(
    tokenizer: TokenizerLike,
    sampler: TokenSampler,
    special: frozenset[int],
    content_len: int,
    input_len: int,
    max_tries: int,
    head: str = "",
    ids: list[int] | None = None,
) -> str:
    """Draw ``content_len`` ids (or start from ``ids``), then trim/extend the re-encoded ids until
    ``head + text`` is exactly ``input_len`` tokens."""
    ids = sampler.draw(content_len) if ids is None else ids
    for _ in range(max_tries):
        # A trim can cut a multi-byte character in two; drop the dangling half.
        text = tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")
        content = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
        diff = input_len - count_tokens(tokenizer, head + text)
        if diff == 0 and not special.intersection(content):
            return head + text
        if diff == 0:  # the decoded pieces spelled a special token: start over
            ids = sampler.draw(content_len)
        else:
            ids = content[:diff] if diff < 0 else content + sampler.draw(diff)
    raise ValueError(
        f"workload.input_len={input_len}: could not build a prompt of exactly that many tokens "
        f"in {max_tries} tries"
    )


def shared_prefix_prompts(
    tokenizer: TokenizerLike,
    n: int,
    input_len: int,
    prefix_len: int,
    num_prefixes: int,
    rng: np.random.Generator,
    *,
    max_tries: int = DEFAULT_MAX_TRIES,
) -> list[Prompt]:
    """``n`` prompts of exactly ``input_len`` tokens; prompt ``i`` starts with prefix ``i % num_prefixes``.

    Each of the ``num_prefixes`` distinct random prefixes is ``prefix_len`` tokens long (special
    tokens included); a space and a random suffix follow, extended or trimmed until the whole
    prompt is exact. Raises ``ValueError`` naming the field at fault.
    """
    if num_prefixes < 1:
        raise ValueError(f"workload.dataset.num_prefixes must be >= 1, got {num_prefixes}")
    if not 0 < prefix_len < input_len:
        raise ValueError(
            f"workload.dataset.prefix_len={prefix_len} must be > 0 and below workload.input_len={input_len}"
        )
    prefixes = [p.text for p in random_prompts(tokenizer, num_prefixes, prefix_len, rng, max_tries=max_tries)]
    special = frozenset(tokenizer.all_special_ids)
    sampler = TokenSampler(tokenizer, special, rng)
    out: list[Prompt] = []
    for i in range(n):
        head = prefixes[i % num_prefixes] + " "
        content_len = max(1, input_len - count_tokens(tokenizer, head))
        out.append(
            Prompt(
                exact_text(tokenizer, sampler, special, content_len, input_len, max_tries, head), input_len
            )
        )
    return out


def distinct_prompts(
    tokenizer: TokenizerLike,
    n: int,
    input_len: int,
    rng: np.random.Generator,
    *,
    max_tries: int = DEFAULT_MAX_TRIES,
) -> list[Prompt]:
    """``n`` random prompts of exactly ``input_len`` tokens that share no prefix token with each other.

    Like :func:`random_prompts`, and every prompt's first token after the special ones differs from
    every other's (its first two tokens when ``n`` exceeds half the vocabulary), so an engine's
    prefix cache, whatever its block size, can serve no prompt from another one. A prompt whose head
    repeats an earlier one's is drawn again. Deterministic for a given ``rng`` state.
    """
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    if input_len - n_special < 1:
        return random_prompts(tokenizer, n, input_len, rng, max_tries=max_tries)
    head_len = 1 if n <= len(tokenizer.get_vocab()) // 2 else 2
    special = frozenset(tokenizer.all_special_ids)
    sampler = TokenSampler(tokenizer, special, rng)
    seen: set[tuple[int, ...]] = set()
    out: list[Prompt] = []
    for _ in range(n):
        for _ in range(max_tries):
            text = exact_text(tokenizer, sampler, special, input_len - n_special, input_len, max_tries)
            head = tuple(int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"][:head_len])
            if head not in seen:
                seen.add(head)
                out.append(Prompt(text, input_len))
                break
        else:
            raise ValueError(
                f"workload.input_len={input_len}: could not draw {n} prompts with distinct first tokens"
            )
    return out
