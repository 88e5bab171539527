"""The event loop the engine's requests run on: uvloop's where it is installed, else asyncio's.

uvloop (libuv) calls a ready socket's reader callback from C, where asyncio's loop goes through
Python handles and its selector: at 256 streams the client spends about a tenth less CPU per
chunk and its loop lag p99 is lower (`bench/clock_bench.py --asyncio-loop` shows both). The
kernel clock is unchanged: our transport reads its own sockets by `recvmsg` either way.
Only the engine's own process uses it: the simulator stamps requests through asyncio's
transports (which call the socket's own `recv`), and the app's loop is Textual's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def engine_loop_factory(*, prefer_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's `new_event_loop` when it is installed (not on Windows), else None: asyncio's."""
    if not prefer_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_engine(main: Coroutine[Any, Any, T], *, prefer_uvloop: bool = True) -> T:
    """`asyncio.run(main)` on the engine's loop."""
    with asyncio.Runner(loop_factory=engine_loop_factory(prefer_uvloop=prefer_uvloop)) as runner:
        return runner.run(main)
