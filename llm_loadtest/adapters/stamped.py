"""The measured requests on the client's own sockets, stamped by the kernel (llm_loadtest.transport).

The engine attaches a `StampedClient` to its aiohttp session (`attach`); `exchange` then sends
each measured request to a plain-http server through it, and the adapters' readers read a
`StampedResponse` as they read an aiohttp response (status, head, whole body), except a
streamed body: `stream_to(feed)` gives it to the reader's decoder read by read, with the
kernel's arrival time of each read, right where the bytes arrive (the reader callback), so
that no task has to wake up per chunk; the request's task only waits for the end. Side
requests (preflight, tokenize) stay on aiohttp, and so does everything where the kernel
cannot stamp (https, platforms other than Linux): their records say `user`.
"""

from __future__ import annotations

import weakref
from collections import deque
from urllib.parse import urlsplit

import aiohttp

from llm_loadtest.model.records import ClockSource, RequestRecord
from llm_loadtest.transport.clock import WallClock, kernel_stamps_available, stamping_keeper
from llm_loadtest.transport.http1 import BodySink, ConnectionPool, Exchange

_clients: weakref.WeakKeyDictionary[aiohttp.ClientSession, StampedClient] = weakref.WeakKeyDictionary()


class StampedClient:
    """One keep-alive connection pool per plain-http server, all on one wall-clock mapping."""

    def __init__(self) -> None:
        self.clock = WallClock()
        self._pools: dict[str, ConnectionPool | None] = {}
        # Linux switches receive stamping on for the whole machine a moment after the first
        # socket asks (deferred work), and off when the last one closes: a socket that asks
        # from now until close() keeps it on, so that a pool's first reads are stamped too
        self._keeper = stamping_keeper()

    def pool_for(self, url: str) -> ConnectionPool | None:
        """The pool for `url`'s server, or None where the kernel cannot stamp its reads."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._pools:
            usable = parts.scheme == "http" and kernel_stamps_available()
            self._pools[origin] = ConnectionPool(origin, clock=self.clock) if usable else None
        return self._pools[origin]

    def close(self) -> None:
        for pool in self._pools.values():
            if pool is not None:
                pool.close()
        self._pools.clear()
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None


def attach(session: aiohttp.ClientSession, client: StampedClient) -> None:
    """Measured requests made through `session` go through `client` where it can stamp them."""
    _clients[session] = client


def stamped_pool(session: aiohttp.ClientSession, url: str) -> ConnectionPool | None:
    client = _clients.get(session)
    return client.pool_for(url) if client is not None else None


async def open_connections(session: aiohttp.ClientSession, url: str, count: int) -> bool:
    """Open `count` keep-alive connections for the stamped requests to `url`; False when they
    do not go through a stamped pool (the caller opens aiohttp's)."""
    pool = stamped_pool(session, url)
    if pool is None:
        return False
    await pool.open(count)
    return True


class StampedResponse:
    """The sink of one exchange, read like an aiohttp response by the adapters' readers."""

    __slots__ = ("_exchange", "_pieces", "read_ns")

    def __init__(self) -> None:
        self._pieces: deque[tuple[bytes, int]] = deque()  # what came before a reader took the body
        self._exchange: Exchange  # given by bind(), before anything reads
        self.read_ns = 0  # the arrival time of the bytes given last

    def bind(self, exchange: Exchange) -> None:
        self._exchange = exchange

    # ---- fed by the exchange, in the reader callback ------------------------------------------

    def feed(self, data: bytes, t_ns: int) -> None:
        self._pieces.append((data, t_ns))

    # ---- read by the adapter ---------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._exchange.status

    def clock(self) -> int:
        return self.read_ns

    async def head(self) -> None:
        """Wait for the status line and headers (or for the exchange to fail)."""
        exchange = self._exchange
        await exchange.head_or_end()
        if not exchange.head_done:
            await exchange.finished()  # raises what ended it

    async def stream_to(self, feed: BodySink) -> None:
        """Give `feed` each piece of the body with its read's arrival time: what came already,
        then each piece as it arrives, in the reader callback (it must not block). Returns at
        the body's end; raises what broke the stream, or what `feed` raised."""
        while self._pieces:
            data, self.read_ns = self._pieces.popleft()
            feed(data, self.read_ns)
        exchange = self._exchange
        exchange.sink = feed  # from now on straight from the parser; what it raises fails the exchange
        await exchange.finished()

    async def read(self) -> bytes:
        exchange = self._exchange
        await exchange.finished()
        self.read_ns = exchange.t_end_ns
        if exchange.status != 200:
            return exchange.body
        body = b"".join(data for data, _ in self._pieces)
        self._pieces.clear()
        return body

    async def text(self, errors: str = "strict") -> str:
        return (await self.read()).decode("utf-8", errors=errors)


def mark_stamped(record: RequestRecord, exchange: Exchange) -> None:
    """What the record says of its clock once the exchange is over."""
    record.connect_ns = exchange.connect_ns
    record.clock = ClockSource.KERNEL if exchange.unstamped_reads == 0 else ClockSource.USER
    record.clock_steps = exchange.clock_steps
