"""Requests of a level in progress, made ready for the store in the parent process.

The engine hands over finished requests about every second (`RequestsFinished`) so that a
run killed mid-level keeps them. Their tokens are not counted yet (the engine counts after
the level, never while it reads streams), so they are counted here, on copies: in-process
the engine still holds the originals and counts them itself when the level ends, and its
LevelFinished then replaces these in the store.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from llm_loadtest.engine.token_accounting import account_tokens
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.tokens.tokenizer import get_tokenizer


class _TokenizerOnDemand:
    """Loaded only when a count is needed: with servers that send usage, it never is."""

    def __init__(self, spec: str):
        self._spec = spec

    def count(self, text: str) -> int:
        return get_tokenizer(self._spec).count(text)


def counted_copies(records: Iterable[RequestRecord], tokenizer_spec: str) -> list[RequestRecord]:
    copies = [copy.copy(record) for record in records]
    account_tokens(copies, _TokenizerOnDemand(tokenizer_spec))
    return copies
