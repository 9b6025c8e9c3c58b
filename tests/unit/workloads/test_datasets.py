"""Random prompts have exactly the requested token count, specials included, for two tokenizers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from workloads.datasets import Prompt, count_tokens, random_prompts

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tiny_tokenizer() -> Any:
    """The project's word-level tiny-model tokenizer (BOS added).

    Loaded with ``PreTrainedTokenizerFast`` rather than ``AutoTokenizer``: for this tokenizer.json
    both give the same class and ids, and the Auto import chain alone costs ~5 s.
    """
    from engines.tiny_model import ensure_tiny_model

    return transformers.PreTrainedTokenizerFast.from_pretrained(str(ensure_tiny_model()))


@pytest.fixture(scope="module")
def bpe_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained here on generated multi-script text (BOS added)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    rng = np.random.default_rng(1)
    pieces = ["ka", "lo", "mi", "ne", "ru", "the", "ing", "é", "中", "ß", " ", "  ", "\n", ".", ","]
    corpus = ["".join(rng.choice(pieces, size=200)) for _ in range(300)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=["<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


@pytest.mark.parametrize("which", ["tiny_tokenizer", "bpe_tokenizer"])
def test_exact_lengths_1_to_300(which: str, request: pytest.FixtureRequest) -> None:
    tokenizer = request.getfixturevalue(which)
    rng = np.random.default_rng(42)
    special = set(tokenizer.all_special_ids)
    for input_len in range(1, 301):
        for prompt in random_prompts(tokenizer, 2, input_len, rng):
            ids = tokenizer(prompt.text)["input_ids"]
            assert len(ids) == input_len == prompt.input_tokens == count_tokens(tokenizer, prompt.text)
            assert ids[0] == tokenizer.bos_token_id  # BOS is part of the count
            assert not special & set(tokenizer(prompt.text, add_special_tokens=False)["input_ids"])
            assert "\ufffd" not in prompt.text


def test_bpe_merges_make_the_repair_loop_necessary(bpe_tokenizer: Any) -> None:
    """With a single try many lengths fail for BPE (the round trip merges/splits), yet all succeed."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"workload\.input_len=64"):
        random_prompts(bpe_tokenizer, 50, 64, rng, max_tries=1)
    assert len(random_prompts(bpe_tokenizer, 50, 64, rng)) == 50


def test_prompts_are_seeded_and_distinct(tiny_tokenizer: Any) -> None:
    first = random_prompts(tiny_tokenizer, 5, 32, np.random.default_rng(7))
    again = random_prompts(tiny_tokenizer, 5, 32, np.random.default_rng(7))
    assert first == again
    assert len({p.text for p in first}) == 5
    assert all(isinstance(p, Prompt) for p in first)


def test_length_below_special_tokens_is_rejected(tiny_tokenizer: Any) -> None:
    with pytest.raises(ValueError, match=r"workload\.input_len=0"):
        random_prompts(tiny_tokenizer, 1, 0, np.random.default_rng(0))


def test_only_special_tokens_gives_the_empty_prompt(tiny_tokenizer: Any) -> None:
    assert random_prompts(tiny_tokenizer, 2, 1, np.random.default_rng(0)) == [Prompt("", 1)] * 2


def test_distinct_prompts_are_exact_and_share_no_first_token(tiny_tokenizer: Any) -> None:
    from workloads.datasets import distinct_prompts

    prompts = distinct_prompts(tiny_tokenizer, 200, 24, np.random.default_rng(3))
    assert all(p.input_tokens == 24 == count_tokens(tiny_tokenizer, p.text) for p in prompts)
    heads = [tiny_tokenizer(p.text, add_special_tokens=False)["input_ids"][0] for p in prompts]
    assert len(set(heads)) == len(prompts)
    assert distinct_prompts(tiny_tokenizer, 200, 24, np.random.default_rng(3)) == prompts
    assert distinct_prompts(tiny_tokenizer, 200, 24, np.random.default_rng(4)) != prompts
