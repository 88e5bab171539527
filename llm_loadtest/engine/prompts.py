"""Synthetic prompts of exactly `input_len` tokens, each with a unique start.

A unique opening (`Request <run>-<number>:`) keeps a server's prefix cache from making later
requests cheaper than the first: caches match from the first token. The rest is seeded
random common words. Prompts are built before a level, and on demand when a timed level
needs more, so building one must be cheap: a prompt is its opening plus one of a few dozen
bodies tokenized once. The tokenizer in use checks the first prompts whole; if its count of
opening and body together ever differs from the parts (a tokenizer that merges across the
seam), every prompt is built and checked whole instead.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable

from llm_loadtest.model.records import Prompt
from llm_loadtest.tokens.tokenizer import Tokenizer

# Common words; with a leading space each is a single token in the BPE vocabularies we meet,
# so a prompt's length can be set by counting words, then checked with the real tokenizer.
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "you",
    "were",
    "her",
    "she",
    "there",
    "been",
    "one",
    "all",
    "we",
    "their",
    "has",
    "would",
    "when",
    "if",
    "so",
    "no",
    "will",
    "more",
    "out",
    "up",
    "into",
    "do",
    "any",
    "your",
    "what",
    "some",
    "can",
    "only",
    "other",
    "new",
    "time",
    "could",
    "these",
    "two",
    "may",
    "first",
    "then",
    "them",
    "its",
    "over",
    "such",
    "our",
    "man",
    "me",
    "even",
    "most",
    "made",
    "after",
    "also",
    "did",
    "many",
    "before",
    "must",
    "through",
    "back",
    "years",
    "where",
    "much",
    "way",
    "well",
    "down",
    "should",
    "because",
    "each",
    "just",
    "those",
    "people",
    "how",
    "too",
    "little",
    "state",
    "good",
    "very",
    "make",
    "world",
    "still",
    "own",
    "see",
    "men",
    "work",
    "long",
    "here",
    "get",
    "both",
    "between",
    "life",
    "being",
    "under",
    "never",
    "day",
    "same",
    "another",
    "know",
    "while",
    "last",
    "might",
    "us",
    "great",
    "old",
    "year",
    "off",
    "come",
    "since",
    "against",
    "go",
    "came",
    "right",
    "used",
    "take",
    "three",
]

BODIES = 64
CHECKED_WHOLE = 16  # prompts checked whole before the opening + body sum is trusted


class PromptCache(ABC):
    """Prompt `index`, built once by `_build` and kept: prompts are built before a level starts."""

    def __init__(self) -> None:
        self._cache: dict[int, Prompt] = {}

    def get(self, index: int) -> Prompt:
        prompt = self._cache.get(index)
        if prompt is None:
            prompt = self._cache[index] = self._build(index)
        return prompt

    def prepare(self, count: int, start: int = 0) -> None:
        for index in range(start, start + count):
            self.get(index)

    @abstractmethod
    def _build(self, index: int) -> Prompt: ...


class PromptFactory(PromptCache):
    """`lengths(index)`, when given, is prompt `index`'s length (a drawn one); else `input_len`."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        input_len: int,
        seed: int = 0,
        namespace: str = "",
        lengths: Callable[[int], int] | None = None,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.input_len = input_len
        self._lengths = lengths
        self.seed = seed
        self.namespace = namespace
        self._bodies: dict[int, list[str]] = {}  # body length in tokens -> bodies
        self._body_ids: dict[int, list[int]] = {}  # drawn lengths: body k's tokens, cut to each length
        self._seam_ok: bool | None = None  # None until CHECKED_WHOLE prompts agreed

    def _build(self, index: int) -> Prompt:
        length = self.input_len if self._lengths is None else self._lengths(index)
        head = f"Request {self.namespace}{index:08d}:"
        head_len = self.tokenizer.count(head)
        body_len = length - head_len
        if body_len < 1 or self._seam_ok is False:
            return self._whole(head, random.Random(f"{self.seed}:{self.namespace}:{index}"), length)
        if self._lengths is not None:
            return self._cut(head, body_len, index, length)
        text = head + self._body(body_len, index % BODIES)
        if self._seam_ok is None:
            count = self.tokenizer.count(text)
            if count != length:
                self._seam_ok = False
                return self._whole(head, random.Random(f"{self.seed}:{self.namespace}:{index}"), length)
            if index >= CHECKED_WHOLE - 1:
                self._seam_ok = True
        return Prompt(text=text, input_tokens=length, input_len_requested=length)

    def _body(self, length: int, k: int) -> str:
        bodies = self._bodies.setdefault(length, [])
        while len(bodies) <= k:
            rng = random.Random(f"{self.seed}:{self.namespace}:body:{len(bodies)}")
            bodies.append(fit_words(self.tokenizer, "", rng, length))
        return bodies[k]

    def _cut(self, head: str, body_len: int, index: int, length: int) -> Prompt:
        """A drawn length: a body of that many tokens cut from one long body (a body per
        length would be built again for nearly every prompt), the prompt counted whole."""
        k = index % BODIES
        ids = self._body_ids.get(k)
        if ids is None or len(ids) < body_len:
            rng = random.Random(f"{self.seed}:{self.namespace}:body:{k}")
            ids = self._body_ids[k] = self.tokenizer.encode(fit_words(self.tokenizer, "", rng, max(body_len, 2 * len(ids or ()))))
        text = head + self.tokenizer.decode(ids[:body_len])
        if self.tokenizer.count(text) != length:  # the cut or the seam merged: words, whole
            return self._whole(head, random.Random(f"{self.seed}:{self.namespace}:{index}"), length)
        return Prompt(text=text, input_tokens=length, input_len_requested=length)

    def _whole(self, head: str, rng: random.Random, length: int) -> Prompt:
        text = fit_words(self.tokenizer, head, rng, length)
        return Prompt(text=text, input_tokens=self.tokenizer.count(text), input_len_requested=length)


def fit_words(tokenizer: Tokenizer, start: str, rng: random.Random, length: int) -> str:
    """`start` followed by random words, cut to `length` tokens (or as close as words allow)."""
    text = start + "".join(" " + rng.choice(_WORDS) for _ in range(length))
    ids = tokenizer.encode(text)
    if len(ids) > length:
        text = tokenizer.decode(ids[:length])
    count = tokenizer.count(text)
    # decode/encode may merge differently at the cut: pad or trim by whole words
    while count < length:
        text += " " + rng.choice(_WORDS)
        count = tokenizer.count(text)
    while count > length and " " in text[len(start) :]:
        text = text.rsplit(" ", 1)[0]
        count = tokenizer.count(text)
    return text
