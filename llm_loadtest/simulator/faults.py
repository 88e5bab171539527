"""Per-request fault decisions, reproducible from the seed and the request's arrival number.

One uniform draw per request picks at most one fault: the rates partition [0, 1), so each
fault's share of requests is its rate exactly in expectation. Stream-only faults (drop,
stall, malformed, error_event) drawn for a non-streaming request leave it unharmed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from llm_loadtest.simulator.options import SimOptions


class Fault(StrEnum):
    HTTP_500 = "http_500"
    HTTP_429 = "http_429"
    DROP = "drop"  # the connection is cut after about half the tokens, no [DONE]
    STALL = "stall"  # the stream pauses stall_s seconds after about half the tokens
    MALFORMED = "malformed"  # one `data: {not json` event after about half the tokens; the stream goes on
    ERROR_EVENT = "error_event"  # a `data: {"error": ...}` event after about half the tokens; the stream ends


_ORDER = (
    (Fault.HTTP_500, "fail_rate_500"),
    (Fault.HTTP_429, "fail_rate_429"),
    (Fault.DROP, "drop_rate"),
    (Fault.STALL, "stall_rate"),
    (Fault.MALFORMED, "malformed_rate"),
    (Fault.ERROR_EVENT, "error_event_rate"),
)
STREAM_ONLY = frozenset({Fault.DROP, Fault.STALL, Fault.MALFORMED, Fault.ERROR_EVENT})


def request_rng(seed: int, arrival: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across processes and
    # PYTHONHASHSEED, unlike hash() of a tuple.
    return random.Random(f"llm-loadtest-sim/{seed}/{arrival}")


def draw_fault(rng: random.Random, options: SimOptions, stream: bool) -> Fault | None:
    """Always consumes exactly one draw, so the words that follow do not depend on the rates' outcome."""
    u = rng.random()
    edge = 0.0
    for fault, field in _ORDER:
        edge += getattr(options, field)
        if u < edge:
            return fault if stream or fault not in STREAM_ONLY else None
    return None


@dataclass(frozen=True, slots=True)
class FaultPoint:
    """Where in the stream a mid-stream fault strikes: once this many tokens were sent."""

    fault: Fault
    after_tokens: int


def fault_point(fault: Fault | None, max_tokens: int) -> FaultPoint | None:
    if fault is None or fault not in STREAM_ONLY:
        return None
    return FaultPoint(fault, max_tokens // 2)
