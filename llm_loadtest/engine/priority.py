"""Let a host that draws (the app) give way to the engine when the cores are busy.

On Linux the nice value belongs to a thread, and a process started by fork inherits the nice
value of the thread that starts it. `yield_cpu_to_engine` first starts a spawner thread at the
caller's present priority, then lowers the calling thread's priority; engine children start
from the spawner (`start_process`), so they keep the normal priority. When the cores are
busy the scheduler then runs the engine (and a co-located server) before a chart frame: the
drawing takes idle time only, and never delays a timestamp. On an idle machine nothing
changes. Elsewhere (macOS, Windows) both functions do the plain thing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess

HOST_NICENESS = 10  # CFS weight 110 against the engine's 1024: a chart frame waits for it

_lock = threading.Lock()
_spawner: ThreadPoolExecutor | None = None


def yield_cpu_to_engine(niceness: int = HOST_NICENESS) -> bool:
    """Lower the calling thread's CPU priority by `niceness`, keeping the engine's at today's
    level. Returns False where this platform has no per-thread priority (nothing changed)."""
    global _spawner
    if not sys.platform.startswith("linux"):
        return False
    with _lock:
        if _spawner is None:
            spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-spawner")
            spawner.submit(lambda: None).result()  # its one thread exists now, at our priority
            _spawner = spawner
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
    except OSError:
        return False
    return True


async def start_process(process: BaseProcess) -> None:
    """Start `process` at the engine's priority: from the spawner thread when a host lowered
    its own, else right here."""
    if _spawner is None:
        process.start()
    else:
        await asyncio.get_running_loop().run_in_executor(_spawner, process.start)
