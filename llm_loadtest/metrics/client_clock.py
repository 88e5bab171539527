"""What the client's clock says of a level (docs/metrics.md, "Per request" and "Client health"):
its source, the send delay, the chunks one read could not separate, the wall-clock steps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from llm_loadtest.model.records import ClockSource, RequestRecord

NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class ClockFacts:
    clock: str | None  # "kernel" when every measured request was stamped by the kernel, else "user"
    send_delay_ms: np.ndarray  # t_start - t_ready per measured request that has a t_ready
    coalesced_chunks: int  # content chunks that arrived in the same read as the chunk before them
    chunks: int  # content chunks in all
    clock_steps: int  # wall-clock steps seen while the level's requests went


def clock_facts(records: Iterable[RequestRecord]) -> ClockFacts:
    kept = [r for r in records if not r.warmup]
    if not kept:
        clock = None
    else:
        clock = ClockSource.KERNEL.value if all(r.clock is ClockSource.KERNEL for r in kept) else ClockSource.USER.value
    delays = [r.t_start_ns - r.t_ready_ns for r in kept if r.t_ready_ns is not None]
    return ClockFacts(
        clock=clock,
        send_delay_ms=np.asarray(delays, dtype=np.int64) / NS_PER_MS,
        coalesced_chunks=sum(coalesced_chunks(r.chunk_times_ns) for r in kept),
        chunks=sum(len(r.chunk_times_ns) for r in kept),
        # requests in flight together see the same step: the level's count is the most any saw
        clock_steps=max((r.clock_steps for r in kept), default=0),
    )


def coalesced_chunks(chunk_times_ns: np.ndarray) -> int:
    """Chunks stamped with the same time as the chunk before them: one read carried both, so
    neither clock could tell their arrivals apart (their gap reads 0)."""
    if len(chunk_times_ns) < 2:
        return 0
    return int(np.count_nonzero(np.diff(chunk_times_ns) == 0))
