"""Blocking work off the event loop, on threads that end with it.

The headless command starts its engine child by fork only while no other thread runs
(`engine.child.forking_is_safe`): a fork copies locks a thread may hold. `asyncio.to_thread`
keeps its worker threads alive after the work, so one call before a run (or between the
probes of `recommend`) made every later engine start a spawn: a second interpreter importing
everything again. Work on the parent's side of the engine goes through `in_passing_thread`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


async def in_passing_thread(function: Callable[[], T]) -> T:
    """`function()` on a thread that has ended when this returns. Cancelled, it returns at
    once and the thread ends when `function` does."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passing")
    try:
        result = await asyncio.get_running_loop().run_in_executor(executor, function)
    except BaseException:
        executor.shutdown(wait=False)
        raise
    executor.shutdown(wait=True)  # the work is done: the thread is ending now
    return result
