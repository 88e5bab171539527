"""The kernel's receive stamps, on the records' clock.

Linux can stamp every TCP segment as it arrives (`SO_TIMESTAMPNS`); `recvmsg` then hands the
stamp of the last segment of a read beside its bytes. However late the process reads, the
stamp stays the arrival time, so the client's own load cannot move it. Sends are stamped
likewise as they leave (`SO_TIMESTAMPING`, software TX stamps on the error queue): a process
preempted right after its write (a loopback write wakes the server, which may take the CPU)
does not push a request's `t_start` late.

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
SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
SCM_TIMESTAMPING = SO_TIMESTAMPING
# send stamps: software stamps as each send's last segment leaves for the device, reported
# alone (not with a copy of the packet) on the socket's error queue
_SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
_SOF_TIMESTAMPING_SOFTWARE = 1 << 4
_SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
_SEND_STAMP_FLAGS = _SOF_TIMESTAMPING_TX_SOFTWARE | _SOF_TIMESTAMPING_SOFTWARE | _SOF_TIMESTAMPING_OPT_TSONLY
_TIMESPEC = struct.Struct("@ll")  # struct timespec: tv_sec, tv_nsec
# room for SCM_TIMESTAMPNS, SCM_TIMESTAMPING (three timespecs) and an extended error beside them
ANCILLARY_SIZE = 256 if hasattr(socket, "CMSG_SPACE") else 0
# larger than any jitter of a sample, far smaller than any step worth telling
STEP_NS = 1_000_000
# A sample whose two readings of the monotonic clock are further apart than this was
# interrupted (it takes about 0.3 us): its offset may be off by half the spread, so the last
# good one is kept instead, unless it is older than _SAMPLE_MAX_AGE_NS (NTP slews at most
# 0.5 ms a second: 0.05 ms in that time), when a few more tries are made.
_SAMPLE_SPREAD_NS = 1_000
# NTP slews at most 0.5 ms a second: an offset this old is off by 0.5 us at most; a step of
# the wall clock is seen at the next sample
_RESAMPLE_NS = 1_000_000
_SAMPLE_MAX_AGE_NS = 100_000_000
_SAMPLE_TRIES = 5


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


def enable_send_stamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each send of `sock` as it leaves (read with `send_stamp`)."""
    if not kernel_stamps_available():
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, _SEND_STAMP_FLAGS)
    except OSError:
        return False
    return True


def send_stamp(sock: socket.socket) -> int | None:
    """The latest send stamp waiting on `sock`'s error queue (CLOCK_REALTIME ns), emptying the
    queue; None when there is none (not yet sent on, or no stamps here)."""
    latest = None
    while True:
        try:
            _, ancdata, _, _ = sock.recvmsg(0, ANCILLARY_SIZE, socket.MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError):
            return latest
        except OSError:
            return latest
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPING and len(data) >= _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack_from(data)  # ts[0]: the software stamp
                stamp = seconds * 1_000_000_000 + nanoseconds
                latest = stamp if latest is None else max(latest, stamp)


def stamping_keeper() -> socket.socket | None:
    """A socket that only asks for receive stamps: while it is open, the kernel stamps what
    arrives from the first byte on (it switches stamping on machine-wide, lazily). None where
    the platform has no stamps."""
    if not kernel_stamps_available():
        return None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if not enable_kernel_stamps(sock):
        sock.close()
        return None
    return sock


def stamp_of(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The CLOCK_REALTIME ns carried by a recvmsg's ancillary data, or None."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return None


class WallClock:
    """CLOCK_REALTIME ns to perf_counter_ns, by an offset resampled at most every
    `_RESAMPLE_NS` (not at every read: hundreds of streams read thousands of times a second)."""

    __slots__ = ("_sampled_ns", "offset_ns", "steps")

    def __init__(self) -> None:
        sample = None
        while sample is None:
            sample = _sample()
        self._sampled_ns, self.offset_ns = sample
        self.steps = 0  # wall-clock steps seen since this clock was made

    def to_perf(self, wall_ns: int) -> int:
        if time.perf_counter_ns() - self._sampled_ns >= _RESAMPLE_NS:
            self._resample()
        return wall_ns - self.offset_ns

    def _resample(self) -> None:
        sample = _sample()
        if sample is None and time.perf_counter_ns() - self._sampled_ns > _SAMPLE_MAX_AGE_NS:
            for _ in range(_SAMPLE_TRIES):
                sample = _sample()
                if sample is not None:
                    break
        if sample is not None:
            sampled_ns, offset = sample
            if abs(offset - self.offset_ns) > STEP_NS:
                self.steps += 1
            self._sampled_ns, self.offset_ns = sampled_ns, offset


def _sample() -> tuple[int, int] | None:
    """(when, offset of CLOCK_REALTIME over the monotonic clock), or None when interrupted."""
    before = time.perf_counter_ns()
    wall = time.time_ns()
    after = time.perf_counter_ns()
    if after - before > _SAMPLE_SPREAD_NS:
        return None
    middle = (before + after) // 2
    return middle, wall - middle
