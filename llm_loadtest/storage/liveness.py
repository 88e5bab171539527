"""Is the process that wrote a `running` run still there?

A pid alone is not enough: pids are recycled, so the writer's start time is stored beside it
and must match. A run written on another host (a shared PostgreSQL) cannot be checked from
here and is left alone.
"""

from __future__ import annotations

import os
import socket

import psutil

# psutil's create_time is rounded differently across reads on some systems.
_START_TOLERANCE_S = 1.0


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
