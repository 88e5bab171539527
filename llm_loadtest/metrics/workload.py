"""Figures that only some workloads have: reasoning models' answer TTFT and reasoning tokens,
multi-turn chats' TTFT by turn, and the lengths a run drew. Over successful measured requests,
like every latency; None (never 0) when the workload has none of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_loadtest.metrics.latency import NS_PER_MS
from llm_loadtest.metrics.stats import stats
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import Stats, TokenTotals, TurnFigures


def answer_ttft_ms(ok: Sequence[RequestRecord]) -> Stats | None:
    """Time to the first answer token, when some request reasoned first: the user waits that
    long for an answer, though the first token (TTFT) came earlier."""
    if not any(r.reasoning_chunks for r in ok):
        return None
    values = [r.ttft_answer_ns for r in ok if r.ttft_answer_ns is not None]
    return stats(np.asarray(values, dtype=np.int64) / NS_PER_MS)


def reasoning_tokens(ok: Sequence[RequestRecord]) -> TokenTotals | None:
    if not any(r.reasoning_chunks for r in ok):
        return None
    counts = [r.reasoning_tokens or 0 for r in ok]
    total = sum(counts)
    return TokenTotals(total=total, mean=total / len(counts) if counts else None)


def by_turn(ok: Sequence[RequestRecord]) -> list[TurnFigures] | None:
    """TTFT and prompt tokens of each turn of multi-turn chats: both grow with the context."""
    turns = sorted({r.turn for r in ok if r.turn is not None})
    if not turns:
        return None
    figures = []
    for turn in turns:
        records = [r for r in ok if r.turn == turn]
        ttfts = [r.ttft_ns for r in records if r.ttft_ns is not None]
        inputs = [r.input_tokens for r in records if r.input_tokens is not None]
        figures.append(
            TurnFigures(
                turn=turn,
                requests=len(records),
                ttft_ms=stats(np.asarray(ttfts, dtype=np.int64) / NS_PER_MS),
                input_tokens_mean=sum(inputs) / len(inputs) if inputs else None,
            )
        )
    return figures


def requested_lengths(records: Sequence[RequestRecord], name: str) -> Stats | None:
    """The distribution of the lengths asked for (`input_len_requested` / `output_len_requested`)."""
    values = [getattr(r, name) for r in records if getattr(r, name) is not None]
    return stats(np.asarray(values, dtype=np.float64)) if values else None
