"""Synthetic prompts: exact length by the tokenizer, unique openings, cheap to build."""

from __future__ import annotations

import pytest

from llm_loadtest.engine.prompts import PromptFactory
from llm_loadtest.tokens.tokenizer import get_tokenizer


@pytest.mark.parametrize("length", [16, 256, 1000])
def test_every_prompt_has_exactly_the_asked_length_and_a_unique_start(length):
    tokenizer = get_tokenizer("tiktoken:cl100k_base")
    factory = PromptFactory(tokenizer, length, seed=1, namespace="run1-")
    prompts = [factory.get(i) for i in range(300)]
    assert all(tokenizer.count(p.text) == p.input_tokens == length for p in prompts)
    openings = {tokenizer.encode(p.text)[:8].__repr__() for p in prompts}
    assert len(openings) == 300


def test_same_seed_same_prompts_other_seed_other_bodies():
    tokenizer = get_tokenizer("tiktoken:cl100k_base")
    a = PromptFactory(tokenizer, 64, seed=1).get(5).text
    assert PromptFactory(tokenizer, 64, seed=1).get(5).text == a
    assert PromptFactory(tokenizer, 64, seed=2).get(5).text != a


class MergingTokenizer:
    """A tokenizer that counts one token fewer when an opening meets a body, as a tokenizer
    merging across the seam would: the factory must notice and check every prompt whole."""

    name = "merging"

    def __init__(self):
        self.inner = get_tokenizer("tiktoken:cl100k_base")

    def encode(self, text):
        ids = self.inner.encode(text)
        return ids[:-1] if text.startswith("Request") and ":" in text and len(ids) > 12 else ids

    def decode(self, ids):
        return self.inner.decode(ids)

    def count(self, text):
        return len(self.encode(text))


def test_a_tokenizer_that_merges_across_the_seam_gets_whole_checks():
    tokenizer = MergingTokenizer()
    factory = PromptFactory(tokenizer, 40)
    prompts = [factory.get(i) for i in range(20)]
    assert all(tokenizer.count(p.text) == p.input_tokens for p in prompts)


def test_drawn_lengths_are_exact():
    tokenizer = get_tokenizer("tiktoken:cl100k_base")
    lengths = [40 + (i * 37) % 500 for i in range(200)]
    factory = PromptFactory(tokenizer, 256, seed=3, namespace="d-", lengths=lengths.__getitem__)
    prompts = [factory.get(i) for i in range(200)]
    assert [tokenizer.count(p.text) for p in prompts] == [p.input_tokens for p in prompts] == lengths
    assert all(p.input_len_requested == n for p, n in zip(prompts, lengths, strict=True))
