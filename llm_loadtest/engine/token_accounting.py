"""Output tokens per chunk and per request, counted after a level, never while it runs.

The server's `usage` is the truth for totals. When a stream has as many content chunks as
the server counted tokens, each chunk carried one; otherwise (speculative decoding, servers
that batch tokens into chunks) the tokenizer's count of each chunk's text says how the
server's total splits across chunks. With no usage at all, the tokenizer counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from llm_loadtest.model.records import RequestRecord, TokenSource


class TokenCounter(Protocol):
    """All the accounting asks of a tokenizer."""

    def count(self, text: str) -> int: ...


def account_tokens(records: Iterable[RequestRecord], tokenizer: TokenCounter) -> None:
    for record in records:
        texts = record.chunk_texts
        record.chunk_texts = None
        if texts is None:
            continue
        _count_chunks(record, texts, tokenizer)
        reasoning_at = record.reasoning_at
        record.reasoning_at = None
        if reasoning_at:  # a reasoning model: its reasoning tokens, as the chunks carried them
            record.reasoning_tokens = int(record.chunk_tokens[reasoning_at].sum())


def _count_chunks(record: RequestRecord, texts: list[str], tokenizer: TokenCounter) -> None:
    if not record.stream:
        if record.output_tokens is None:
            record.output_tokens = tokenizer.count("".join(texts))
            record.output_token_source = TokenSource.TOKENIZER
        return
    n_chunks = len(record.chunk_times_ns)
    if record.output_tokens == n_chunks or not record.ok:
        record.chunk_tokens = np.ones(n_chunks, dtype=np.int32)
        return
    counts = np.array([max(1, tokenizer.count(text)) for text in texts], dtype=np.int64)
    if record.output_tokens is None:
        record.output_tokens = int(counts.sum())
        record.output_token_source = TokenSource.TOKENIZER
        record.chunk_tokens = counts.astype(np.int32)
    else:
        record.chunk_tokens = split_total(record.output_tokens, counts)


def split_total(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` tokens over chunks in proportion to `weights`, each chunk at least 1."""
    n = len(weights)
    if n == 0:
        return np.empty(0, dtype=np.int32)
    extra = total - n
    if extra <= 0:
        return np.ones(n, dtype=np.int32)
    shares = np.maximum(weights - 1, 0).astype(np.float64)
    if shares.sum() == 0:
        shares = np.ones(n)
    cumulative = np.round(np.cumsum(shares) * extra / shares.sum()).astype(np.int64)
    return (1 + np.diff(cumulative, prepend=0)).astype(np.int32)
