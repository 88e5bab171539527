"""The event loop an engine process runs its benchmark on.

uvloop where it is installed (it is a dependency on Linux and macOS): the same asyncio API on
libuv, about a tenth less client CPU per streamed chunk at a hundred streams and more
(bench/clock_bench.py), which is a tenth more chunks one process reads before its loop lags.
Anywhere else, asyncio's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
