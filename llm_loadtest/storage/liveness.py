"""Is the process that wrote a `running` run still there?

A pid alone is not enough: pids are recycled, so the writer's start time is stored beside it
and must match. A run written on another host (a shared PostgreSQL) cannot be checked from
here: it is judged by how long its writer has been silent (`silent_too_long`).
"""

from __future__ import annotations

import os
import socket

import psutil

# psutil's create_time is rounded differently across reads on some systems.
_START_TOLERANCE_S = 1.0
# A live run writes its finished requests about every second; it is silent longer only while
# none finishes (each ends within the request timeout), during the warm-up (its requests one
# after another at worst) or between levels. Beyond this, and at least QUIET_MINIMUM_S, its
# writer is taken as gone; were it alive after all, its end still writes its true status.
QUIET_MINIMUM_S = 15 * 60.0
_DEFAULT_TIMEOUT_S = 120.0


def this_host() -> str:
    return socket.gethostname()


def this_process() -> tuple[int, float | None]:
    pid = os.getpid()
    return pid, process_start_time(pid)


def process_start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def writer_is_gone(pid: int | None, host: str | None, started: float | None) -> bool:
    """True only when we can tell for sure: same host, and that process is not running."""
    if pid is None or host != this_host():
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        actual = process.create_time()
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, OSError):
        return False
    return started is not None and abs(actual - started) > _START_TOLERANCE_S


def silent_too_long(silent_s: float, timeout_s: float | None, warmup: int | None) -> bool:
    """True when a writer on another host has written nothing for longer than a live run of
    that request timeout and warm-up can be silent."""
    timeout_s = timeout_s or _DEFAULT_TIMEOUT_S
    return silent_s > max(QUIET_MINIMUM_S, ((warmup or 0) + 2) * timeout_s)
