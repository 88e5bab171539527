"""Open-loop arrival times: Poisson, or gamma with a burstiness factor (as vLLM's bench serve).

Burstiness 1 gives exponential gaps (Poisson); below 1 burstier, above 1 more regular.
The mean gap is always 1 / rate. An infinite rate makes every request of a counted level due
at once (vLLM's `--request-rate inf`); `--max-concurrency` is then what paces them.
"""

from __future__ import annotations

import math

import numpy as np

BURST_ROOM = 1.5  # an uncapped open loop's in-flight estimate, over rate x request time


def arrival_offsets(
    rate: float, burstiness: float, *, count: int | None, duration: float | None, seed: int, first_at_once: bool = True
) -> np.ndarray:
    """Seconds from the level's start at which each request is due. The first request goes at
    once, as in vLLM's bench serve; `first_at_once=False` keeps its gap too (the client
    processes of a pool but one, so that together they make one process, not a burst)."""
    if math.isinf(rate):
        if count is None:  # RunConfig refuses it: "all at once" has no end in time
            raise ValueError("an infinite rate needs a count of requests, not a duration")
        return np.zeros(count)
    rng = np.random.default_rng(seed)
    shape = burstiness
    scale = 1.0 / (rate * burstiness)
    if count is not None:
        gaps = rng.gamma(shape, scale, size=count)
        offsets = np.cumsum(gaps)
        return offsets - offsets[0] if first_at_once else offsets
    assert duration is not None
    batches: list[np.ndarray] = []
    last = 0.0
    while last <= duration:
        batch = last + np.cumsum(rng.gamma(shape, scale, size=max(64, int(rate * duration) + 1)))
        batches.append(batch)
        last = float(batch[-1])
    all_offsets = np.concatenate(batches)
    if first_at_once:
        all_offsets -= all_offsets[0]
    return all_offsets[all_offsets < duration]


def in_flight_estimate(rate: float, request_s: float, count: int | None) -> int:
    """About how many requests an uncapped open loop has in flight at once: rate x request
    time, with room for bursts; every one of them when they are all due at once."""
    if math.isinf(rate):
        return max(count or 1, 1)
    return math.ceil(rate * request_s * BURST_ROOM) + 1
