"""ShareGPT replay from a local JSON file, shared-prefix prompts, per-prompt output lengths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.workloads.test_datasets import bpe_tokenizer, tiny_tokenizer  # noqa: F401 (fixtures)
from workloads.datasets import Prompt, count_tokens, shared_prefix_prompts
from workloads.driver import build_payloads
from workloads.sharegpt import read_conversations, sharegpt_prompts


def _sharegpt(path: Path, tok: Any) -> None:
    vocab = [f"w{i}" for i in range(50)]  # words of the tiny model's vocabulary
    rng = np.random.default_rng(0)
    convs = [
        {
            "id": f"c{i}",
            "conversations": [
                {"from": "human", "value": " ".join(rng.choice(vocab, size=3 + i))},
                {"from": "gpt", "value": " ".join(rng.choice(vocab, size=2 + 2 * i))},
                {"from": "human", "value": "ignored third turn"},
            ],
        }
        for i in range(8)
    ]
    convs += [{"id": "one-turn", "conversations": [{"from": "human", "value": "x"}]}, {"bad": 1}]
    path.write_text(json.dumps(convs))


def test_sharegpt_replay(tmp_path: Path, tiny_tokenizer: Any) -> None:  # noqa: F811
    path = tmp_path / "sg.json"
    _sharegpt(path, tiny_tokenizer)
    pairs = read_conversations(path)
    assert len(pairs) == 8  # malformed and one-turn conversations skipped
    prompts = sharegpt_prompts(
        tiny_tokenizer, pairs, 20, max_input_len=8, max_output_len=10, rng=np.random.default_rng(1)
    )
    assert len(prompts) == 20
    for p in prompts:
        assert p.input_tokens == count_tokens(tiny_tokenizer, p.text) <= 8
        assert p.output_len is not None and 1 <= p.output_len <= 10
    usable = {p.text for p in prompts}
    assert len(usable) == 5  # prompts of 3..7 words + BOS fit in 8 tokens; cycled to 20
    again = sharegpt_prompts(tiny_tokenizer, pairs, 20, 8, 10, np.random.default_rng(1))
    assert again == prompts
    payloads = build_payloads("m", prompts, 99, api="completions", ignore_eos=True)
    assert [b["max_tokens"] for b in payloads] == [p.output_len for p in prompts]
    with pytest.raises(ValueError, match=r"workload\.input_len"):
        sharegpt_prompts(tiny_tokenizer, pairs, 1, 2, 10, np.random.default_rng(1))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such file"),
        ("{not json", "not readable JSON"),
        ('{"a": 1}', "JSON list"),
        ("[]", "two turns"),
    ],
)
def test_sharegpt_bad_files_name_the_field(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=needle) as err:
        read_conversations(path)
    assert "workload.dataset.path" in str(err.value)


@pytest.mark.parametrize("fixture", ["tiny_tokenizer", "bpe_tokenizer"])
def test_shared_prefix_exact_lengths(fixture: str, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(fixture)
    prompts = shared_prefix_prompts(tok, 9, 40, 16, 3, np.random.default_rng(2))
    assert all(p.input_tokens == 40 == count_tokens(tok, p.text) for p in prompts)
    for j, p in enumerate(prompts):  # prompt j starts with prefix j % 3: its 16 tokens, BOS included
        assert _common_prefix_tokens(tok, prompts[j % 3].text, p.text) >= 15
    assert _common_prefix_tokens(tok, prompts[0].text, prompts[1].text) < 15  # distinct prefixes
    again = shared_prefix_prompts(tok, 9, 40, 16, 3, np.random.default_rng(2))
    assert again == prompts


def _common_prefix_tokens(tok: Any, a: str, b: str) -> int:
    ia, ib = tok(a)["input_ids"], tok(b)["input_ids"]
    n = 0
    while n < min(len(ia), len(ib)) and ia[n] == ib[n]:
        n += 1
    return n


def test_shared_prefix_bad_lengths() -> None:
    with pytest.raises(ValueError, match="prefix_len"):
        shared_prefix_prompts(None, 1, 10, 10, 1, np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_prefixes"):
        shared_prefix_prompts(None, 1, 10, 5, 0, np.random.default_rng(0))  # type: ignore[arg-type]


def test_prompt_output_len_defaults_to_workload() -> None:
    body = build_payloads("m", [Prompt("a", 2)], 7, api="completions", ignore_eos=True)[0]
    assert body["max_tokens"] == 7 == body["min_tokens"]
