"""Synthetic prompts of exactly `input_len` tokens, each with a unique start.

A unique opening (the request's number, then seeded random words) keeps a server's prefix
cache from making later requests cheaper than the first. Prompts are built on demand and
memoised, so duration and rate modes never run out, and built before a level so that the
measured loop does not pay for them.
"""

from __future__ import annotations

import random

from llm_loadtest.adapters.base import Prompt
from llm_loadtest.tokens.tokenizer import Tokenizer

# Common words; with a leading space each is a single token in the BPE vocabularies we meet,
# so a prompt's length can be set by counting words, then checked with the real tokenizer.
_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no "
    "will more out up into do any your what some can only other new time could these two may "
    "first then them its over such our man me even most made after also did many before must "
    "through back years where much way well down should because each just those people how "
    "too little state good very make world still own see men work long here get both between "
    "life being under never day same another know while last might us great old year off come "
    "since against go came right used take three"
).split()


class PromptFactory:
    def __init__(self, tokenizer: Tokenizer, input_len: int, seed: int = 0, namespace: str = ""):
        self.tokenizer = tokenizer
        self.input_len = input_len
        self.seed = seed
        self.namespace = namespace
        self._cache: dict[int, Prompt] = {}

    def get(self, index: int) -> Prompt:
        prompt = self._cache.get(index)
        if prompt is None:
            prompt = self._cache[index] = self._build(index)
        return prompt

    def prepare(self, count: int, start: int = 0) -> None:
        for index in range(start, start + count):
            self.get(index)

    def _build(self, index: int) -> Prompt:
        rng = random.Random(f"{self.seed}:{self.namespace}:{index}")
        head = f"Request {self.namespace}{index}:"
        words = [" " + rng.choice(_WORDS) for _ in range(self.input_len)]
        text = head + "".join(words)
        ids = self.tokenizer.encode(text)
        if len(ids) > self.input_len:
            text = self.tokenizer.decode(ids[: self.input_len])
        count = self.tokenizer.count(text)
        # decode/encode may merge differently at the cut: pad or trim by whole words
        while count < self.input_len:
            text += " " + rng.choice(_WORDS)
            count = self.tokenizer.count(text)
        while count > self.input_len and " " in text:
            text = text.rsplit(" ", 1)[0]
            count = self.tokenizer.count(text)
        return Prompt(text=text, input_tokens=count)
