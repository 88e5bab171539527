"""Request ids that every server accepts and that still say which request each one was.

Some servers validate `X-Request-Id` as a UUID (llama-cpp-python answers anything else with
an empty HTTP 400), so an id is a well-formed version-4 UUID whose fields carry the run, the
client process, the level and the request's index, in hex, readable by eye:

    50abe171-0002-4003-8000-00000000002a
    run      worker   level kind  index
             (16 bit) (12)  (14)  (48)

The run is the first 8 hex digits of its id; the version nibble (4) and the variant bits
(8..b) are those of a random UUID, so no check can tell ours from one.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from enum import IntEnum

MAX_WORKER = 0xFFFF
MAX_LEVEL = 0xFFF
MAX_INDEX = 0xFFFF_FFFF_FFFF
_VARIANT = 0x8000  # RFC 4122: the clock_seq field's two top bits are 10


class RequestKind(IntEnum):
    MEASURED = 0
    WARMUP = 1
    PREFLIGHT = 2  # the one request sent before the run, exactly like a measured one


@dataclass(frozen=True, slots=True)
class RequestIdParts:
    run_prefix: str  # see run_prefix()
    worker: int
    level: int
    index: int
    kind: RequestKind


def run_prefix(run_id: str) -> str:
    """The 8 hex digits of the run that its request ids start with: the start of a UUID run
    id, or a checksum of any other."""
    head = run_id.replace("-", "")[:8].lower()
    try:
        int(head, 16)
    except ValueError:
        head = ""
    return head if len(head) == 8 else f"{zlib.crc32(run_id.encode()):08x}"


def make_request_id(run_id: str, *, worker: int = 0, level: int = 0, index: int = 0, kind: RequestKind = RequestKind.MEASURED) -> str:
    if not 0 <= worker <= MAX_WORKER or not 0 <= level <= MAX_LEVEL or not 0 <= index <= MAX_INDEX:
        raise ValueError(f"request id fields out of range: worker {worker}, level {level}, index {index}")
    return f"{run_prefix(run_id)}-{worker:04x}-4{level:03x}-{_VARIANT | kind:04x}-{index:012x}"


def parse_request_id(text: str) -> RequestIdParts | None:
    """The fields of an id made by make_request_id; None for any other string."""
    try:
        value = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return None
    if str(value) != text.lower() or value.version != 4 or value.clock_seq_hi_variant >> 6 != 0b10:
        return None
    try:
        kind = RequestKind(value.clock_seq & 0x3FFF)
    except ValueError:
        return None
    return RequestIdParts(
        run_prefix=f"{value.time_low:08x}",
        worker=value.time_mid,
        level=value.time_hi_version & 0x0FFF,
        index=value.node,
        kind=kind,
    )
