"""The engine's HTTP client session: aiohttp, keep-alive, arrival times stamped at the socket.

Measured requests to a plain-http server go through a `StampedClient` attached to the session
(adapters.stamped): the client's own sockets, read with the kernel's receive stamps. The rest
(https, side requests) goes through aiohttp, stamped as below.

When many streams deliver a chunk at the same moment, one loop iteration reads every socket
(aiohttp's protocol callbacks) and only the next one resumes the reading coroutines. A
timestamp taken in the coroutine would then carry the whole burst's processing time; one
taken as the protocol receives the bytes does not. `StampingResponseHandler` keeps that time
for the adapter to read (`arrival_ns`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp.client_proto import ResponseHandler

from llm_loadtest.adapters.exchange import connect_trace_config
from llm_loadtest.adapters.stamped import StampedClient, attach
from llm_loadtest.settings.env import env_settings

# long enough that connections opened before a level are still there when it ends
KEEPALIVE_S = 300
USER_CLOCK_ENV = "LLM_LOADTEST_USER_CLOCK"  # read by settings.env


class StampingResponseHandler(ResponseHandler):
    arrival_ns = 0

    def data_received(self, data: bytes) -> None:
        self.arrival_ns = time.perf_counter_ns()
        super().data_received(data)


@asynccontextmanager
async def open_session(*, stamped: bool | None = None) -> AsyncIterator[aiohttp.ClientSession]:
    """The engine's session; `stamped=False` keeps every request on aiohttp (user clock). By
    default the kernel's stamps are used where they can be, unless LLM_LOADTEST_USER_CLOCK=1
    asks for the fallback (to compare the two clocks on one machine, as bench/ does)."""
    if stamped is None:
        stamped = not env_settings().user_clock
    # limit=0: the engine's own workers bound concurrency; a pool limit would queue requests
    # inside aiohttp, out of sight of t_start.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=KEEPALIVE_S, enable_cleanup_closed=True)
    if isinstance(getattr(connector, "_factory", None), functools.partial):
        # aiohttp builds each connection's protocol from this factory (3.9 to 3.14 at least);
        # without it, adapters fall back to stamping in the reading coroutine
        # typeshed's partial is invariant in what it makes, so a subclass's factory does not fit
        connector._factory = functools.partial(StampingResponseHandler, **connector._factory.keywords)  # type: ignore[assignment]
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        trace_configs=[connect_trace_config()],
    )
    client = StampedClient()
    if stamped:
        attach(session, client)
    try:
        async with session:
            yield session
    finally:
        client.close()
