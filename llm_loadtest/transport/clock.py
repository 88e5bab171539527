"""The kernel's receive stamps, on the records' clock.

Linux can stamp every TCP segment as it arrives (`SO_TIMESTAMPNS`); `recvmsg` then hands the
stamp of the last segment of a read beside its bytes. However late the process reads, the
stamp stays the arrival time, so the client's own load cannot move it.

The stamps are CLOCK_REALTIME; the records are `time.perf_counter_ns()` (CLOCK_MONOTONIC on
Linux, shared with the simulator's log). `WallClock` maps one onto the other with an offset
sampled at every read, so NTP's slewing (at most 0.5 ms a second) cannot matter, and counts
the steps of the wall clock (a jump of more than STEP_NS between two samples): a stamp taken
before a step and mapped after it is off by the step, and the result says so.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

# Linux's values on every architecture Python runs on with 64-bit time (asm-generic): the
# socket module does not name them
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@ll")  # struct timespec: tv_sec, tv_nsec
ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
# larger than any jitter of a sample, far smaller than any step worth telling
STEP_NS = 1_000_000
# a sample taken across a preemption is not trusted: the two clocks were read too far apart
_SAMPLE_SPREAD_NS = 20_000


def kernel_stamps_available() -> bool:
    """Whether this platform stamps TCP reads (Linux with recvmsg and SO_TIMESTAMPNS)."""
    return sys.platform == "linux" and hasattr(socket.socket, "recvmsg") and ANCILLARY_SIZE > 0


def enable_kernel_stamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what `sock` receives; False where it cannot."""
    if not kernel_stamps_available():
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def stamp_of(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The CLOCK_REALTIME ns carried by a recvmsg's ancillary data, or None."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return None


class WallClock:
    """CLOCK_REALTIME ns to perf_counter_ns, by an offset resampled on every `to_perf`."""

    __slots__ = ("offset_ns", "steps")

    def __init__(self) -> None:
        offset = None
        while offset is None:
            offset = _sample()
        self.offset_ns = offset
        self.steps = 0  # wall-clock steps seen since this clock was made

    def to_perf(self, wall_ns: int) -> int:
        offset = _sample()
        if offset is not None:
            if abs(offset - self.offset_ns) > STEP_NS:
                self.steps += 1
            self.offset_ns = offset
        return wall_ns - self.offset_ns


def _sample() -> int | None:
    before = time.perf_counter_ns()
    wall = time.time_ns()
    after = time.perf_counter_ns()
    if after - before > _SAMPLE_SPREAD_NS:
        return None
    return wall - (before + after) // 2
