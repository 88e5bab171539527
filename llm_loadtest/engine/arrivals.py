"""Open-loop arrival times: Poisson, or gamma with a burstiness factor (as vLLM's bench serve).

Burstiness 1 gives exponential gaps (Poisson); below 1 burstier, above 1 more regular.
The mean gap is always 1 / rate.
"""

from __future__ import annotations

import numpy as np


def arrival_offsets(
    rate: float, burstiness: float, *, count: int | None, duration: float | None, seed: int, first_at_once: bool = True
) -> np.ndarray:
    """Seconds from the level's start at which each request is due. The first request goes at
    once, as in vLLM's bench serve; `first_at_once=False` keeps its gap too (the client
    processes of a pool but one, so that together they make one process, not a burst)."""
    rng = np.random.default_rng(seed)
    shape = burstiness
    scale = 1.0 / (rate * burstiness)
    if count is not None:
        gaps = rng.gamma(shape, scale, size=count)
        offsets = np.cumsum(gaps)
        return offsets - offsets[0] if first_at_once else offsets
    assert duration is not None
    offsets: list[np.ndarray] = []
    last = 0.0
    while last <= duration:
        batch = last + np.cumsum(rng.gamma(shape, scale, size=max(64, int(rate * duration) + 1)))
        offsets.append(batch)
        last = float(batch[-1])
    all_offsets = np.concatenate(offsets)
    if first_at_once:
        all_offsets -= all_offsets[0]
    return all_offsets[all_offsets < duration]
