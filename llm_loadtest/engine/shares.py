"""How a level is split between client worker processes (`--workers N`).

Closed loop: the streams are dealt out as evenly as possible, and the requests of a counted
level in proportion; a worker left without a stream sits the level out. Open loop: each
active worker runs an independent arrival process at rate / active workers (the sum of
independent Poisson processes is the Poisson process of the whole rate), with its share of
the cap and of the count. One worker gets the whole level, as without workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_loadtest.model.config import LevelSpec


@dataclass(frozen=True, slots=True)
class LevelShare:
    concurrency: int | None  # streams (closed loop) or the cap (open loop)
    request_rate: float | None
    num_prompts: int | None  # None in duration mode


def split(total: int, worker: int, workers: int) -> int:
    """`worker`'s part of `total`, dealt out as evenly as possible (the first ones get one more)."""
    return total // workers + (1 if worker < total % workers else 0)


def _proportional(total: int, weights: list[int]) -> list[int]:
    whole = sum(weights)
    parts = [total * weight // whole for weight in weights]
    for i in range(total - sum(parts)):
        parts[i] += 1
    return parts


def level_share(spec: LevelSpec, num_prompts: int | None, worker: int, workers: int) -> LevelShare | None:
    """What `worker` of `workers` runs of a level; None when it sits the level out."""
    if workers == 1:
        return LevelShare(spec.concurrency, spec.request_rate, num_prompts)
    active = workers if spec.concurrency is None else min(workers, spec.concurrency)
    if worker >= active:
        return None
    concurrency = None if spec.concurrency is None else split(spec.concurrency, worker, active)
    rate = None if spec.request_rate is None else spec.request_rate / active
    prompts = None
    if num_prompts is not None:
        # closed loop: in proportion to the streams, so that every worker ends at about the same time
        if spec.request_rate is None and spec.concurrency is not None:
            weights = [split(spec.concurrency, i, active) for i in range(active)]
        else:
            weights = [1] * active
        prompts = _proportional(num_prompts, weights)[worker]
    if prompts == 0:
        return None
    return LevelShare(concurrency, rate, prompts)
