"""Prompts for a trace's rows (``workload=trace``): exact lengths, sharing what the trace says rows share.

Row i's prompt is exactly its input tokens (special tokens included) and asks for its output
tokens (at least 1), each clipped to its cap where one is set (:func:`workloads.trace.clipped`);
rows so changed are counted. What the prompt is made of:

* ``hash_ids`` (Mooncake): block ``h`` is the same ``block_size`` random tokens wherever it appears,
  drawn from ``default_rng([seed, 4, h])``; the prompt is its blocks in order, cut to its length (a
  row longer than its blocks continues with tokens of its own). Two rows share a prefix exactly as
  far as their ``hash_ids`` agree, as in the trace.
* ``prefix_hash`` with ``prefix_length``: rows with the same hash begin with the same tokens, that
  many of them (``default_rng([seed, 5, hash])``), then tokens of their own.
* ``session_id`` (without the above): a row begins with the previous prompt of its session, as far
  as it reaches, then tokens of its own.
* none: tokens of its own, from ``default_rng([seed, 6, i])``.

The ids are decoded and the text trimmed or extended at its end until it is exact
(:func:`workloads.datasets.exact_text`); for the tiny model's word-level tokenizer that changes
nothing, so the shared prefixes are exact too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workloads.datasets import DEFAULT_MAX_TRIES, Prompt, TokenizerLike, TokenSampler, exact_text
from workloads.trace import TraceRow, clipped

BLOCK_SALT, PREFIX_SALT, ROW_SALT = 4, 5, 6


def trace_prompts(
    tokenizer: TokenizerLike,
    rows: Sequence[TraceRow],
    max_input_len: int | None,
    max_output_len: int | None,
    block_size: int,
    seed: int,
    *,
    max_tries: int = DEFAULT_MAX_TRIES,
) -> tuple[list[Prompt], int]:
    """One prompt per row (module doc) and how many rows a cap (or a zero output) changed."""
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    special = frozenset(tokenizer.all_special_ids)
    sampler = TokenSampler(tokenizer, special, np.random.default_rng([seed, ROW_SALT]))
    blocks: dict[int, list[int]] = {}
    prefixes: dict[str, list[int]] = {}
    sessions: dict[str, list[int]] = {}
    prompts: list[Prompt] = []
    changed = 0
    for i, row in enumerate(rows):
        n_in, n_out = clipped(row, max_input_len, max_output_len)
        n_in = max(n_in, n_special + 1)
        changed += n_in != row.input_tokens or n_out != row.output_tokens
        content = n_in - n_special
        ids: list[int] = []
        if row.hash_ids:
            for h in row.hash_ids:
                if h not in blocks:
                    blocks[h] = sampler.draw(block_size, np.random.default_rng([seed, BLOCK_SALT, h]))
                ids += blocks[h]
                if len(ids) >= content:
                    break
        elif row.prefix_hash is not None:
            key = row.prefix_hash
            if key not in prefixes or len(prefixes[key]) < row.prefix_tokens:
                rng = np.random.default_rng([seed, PREFIX_SALT, *key.encode()])
                prefixes[key] = sampler.draw(row.prefix_tokens, rng)
            ids = prefixes[key][: row.prefix_tokens]
        elif row.session_id is not None:
            ids = list(sessions.get(row.session_id, []))
        ids = ids[:content]
        if len(ids) < content:
            ids += sampler.draw(content - len(ids), np.random.default_rng([seed, ROW_SALT, i]))
        if row.session_id is not None:
            sessions[row.session_id] = ids
        text = exact_text(tokenizer, sampler, special, content, n_in, max_tries, ids=ids)
        prompts.append(Prompt(text, n_in, n_out))
    return prompts, changed
