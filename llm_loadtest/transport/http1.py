"""HTTP/1.1 on sockets the client owns, for the measured requests.

Each connection is a non-blocking socket with the kernel's receive stamps switched on, read
by `recvmsg` in the loop's reader callback (`loop.add_reader`); httptools (llhttp, Node's
parser) parses the responses, chunked transfer encoding included, and hands each piece of
body to the request's sink with the stamp of the read that carried it. Nothing waits for a
coroutine to be resumed before a time is taken, and the stamps themselves are the kernel's.

A request is written as bytes; its `t_start` is the kernel's stamp of when the last of them
left (a send stamp), else the time right after the write returned. Connections are kept alive and reused; `ConnectionPool.open` opens them before a
level, and a request that has to open one keeps that connect time apart (`connect_ns`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httptools

from llm_loadtest.model.errors import connect_failure
from llm_loadtest.transport.clock import ANCILLARY_SIZE, WallClock, enable_kernel_stamps, enable_send_stamps, send_stamp, stamp_of

CONNECT_TIMEOUT_S = 30.0
# one read takes what the socket holds, up to this: SSE chunks are small, a whole response
# rarely larger; what is left is read at the next callback
READ_SIZE = 65536
_USER_AGENT = "llm-loadtest"

BodySink = Callable[[bytes, int], None]


class TransportError(Exception):
    """A request that did not get a whole response; the subclass says why."""


class ConnectFailed(TransportError):
    """No TCP connection could be opened; `reason` says why in plain words ("connection refused")."""

    def __init__(self, host: str, port: int, reason: str):
        super().__init__(f"cannot connect to {host}:{port}: {reason}")
        self.reason = reason


class ConnectionLost(TransportError):
    """The connection broke or was closed before the response ended."""


class BadResponse(TransportError):
    """What came back is not valid HTTP/1.1."""


class Exchange:
    """One request and its response: the httptools protocol of the response too.

    `sink(data, t_ns)`, when given, takes each piece of a 200 response's body as it arrives,
    inside the reader callback (it must not block; it may be replaced between two pieces);
    other bodies are kept in `body`.
    `on_written(t_start_ns)` is called as soon as the request's bytes are written.
    """

    __slots__ = (
        "_body_parts",
        "_connection",
        "_done",
        "_framed",
        "_head",
        "_parser",
        "clock_steps",
        "complete",
        "connect_ns",
        "error",
        "head_done",
        "keep_alive",
        "on_written",
        "read_ns",
        "request",
        "sink",
        "status",
        "t_end_ns",
        "t_start_ns",
        "unstamped_reads",
    )

    def __init__(
        self,
        request: bytes,
        sink: BodySink | None = None,
        on_written: Callable[[int], None] | None = None,
    ):
        self.request = request
        self.sink = sink
        self.on_written = on_written
        self.status = 0
        self.t_start_ns = 0
        self.t_end_ns = 0
        self.read_ns = 0  # the arrival time of the read being parsed
        self.connect_ns = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.unstamped_reads = 0  # reads (and the send) the kernel gave no stamp: their time is the process's
        self.clock_steps = 0  # wall-clock steps seen while this request went
        self._framed = False  # a Content-Length or chunked body: else it ends when the server closes
        self._body_parts: list[bytes] = []
        self._parser: httptools.HttpResponseParser  # one per exchange, made by bind()
        self._done: asyncio.Future | None = None
        self._head: asyncio.Future | None = None
        self._connection: Connection | None = None

    @property
    def body(self) -> bytes:
        """The body, when it did not go to the sink (no sink, or a status other than 200)."""
        return b"".join(self._body_parts)

    @property
    def over(self) -> bool:
        return self.complete or self.error is not None

    def bind(self, connection: Connection, loop: asyncio.AbstractEventLoop, clock_steps: int) -> None:
        """Start (or start again, on another connection) on `connection`."""
        self._connection = connection
        self._done = loop.create_future()
        self._head = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self.error = None
        self.unstamped_reads = 0
        self.clock_steps = clock_steps

    async def head_or_end(self) -> None:
        """Wait for the response's head, or for the exchange to end without one."""
        if not self.head_done and not self.over and self._head is not None:
            await asyncio.shield(self._head)

    async def finished(self) -> None:
        """Wait for the whole response; raises the TransportError (or the sink's error) that ended it."""
        if not self.over and self._done is not None:
            await asyncio.shield(self._done)
        if self.error is not None:
            raise self.error

    # ---- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        self.head_done = True
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        sink = self.sink
        if sink is not None and self.status == 200:
            sink(body, self.read_ns)
        else:
            self._body_parts.append(body)

    def on_message_complete(self) -> None:
        self.t_end_ns = self.read_ns
        self.complete = True
        self._finish()

    # ---- driven by the connection ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            # the sink met something it did not expect: its own error is the one to report
            self.fail(exc.__context__ or exc)
        except httptools.HttpParserError as exc:
            self.fail(BadResponse(f"not valid HTTP: {exc}"))

    def end_of_stream(self) -> None:
        """The server closed the connection."""
        if self.complete:
            return
        if self.head_done and not self._framed:  # a body that ends when the connection does
            self.t_end_ns = self.read_ns
            self.complete = True
            self.keep_alive = False
            self._finish()
        elif self.head_done:
            self.fail(ConnectionLost("the server closed the connection before the response ended"))
        else:
            self.fail(ConnectionLost("the server closed the connection without answering"))

    def fail(self, error: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self._finish()

    def _finish(self) -> None:
        for future in (self._done, self._head):
            if future is not None and not future.done():
                future.set_result(None)


class Connection:
    """One keep-alive TCP connection and its reader callback."""

    __slots__ = ("_clock", "_fd", "_loop", "_on_close", "closed", "exchange", "sock")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, clock: WallClock, on_close: Callable[[Connection], None]):
        self.sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._clock = clock
        self._on_close = on_close
        self.exchange: Exchange | None = None
        self.closed = False
        loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data, ancdata, _, _ = self.sock.recvmsg(READ_SIZE, ANCILLARY_SIZE)
        except (BlockingIOError, InterruptedError):
            # woken by a send stamp the write did not take (it came late): the error queue
            # must be emptied, or the loop would be woken for it again and again
            send_stamp(self.sock)
            return
        except OSError as exc:
            data, ancdata = None, []
            error: BaseException | None = ConnectionLost(f"{type(exc).__name__}: {exc}")
        else:
            error = None
        exchange = self.exchange
        if exchange is None:  # an idle connection the server closed (or spoke on unasked): gone
            self.close()
            return
        wall_ns = stamp_of(ancdata) if ancdata else None
        if wall_ns is None:
            exchange.unstamped_reads += 1
            exchange.read_ns = time.perf_counter_ns()
        else:
            exchange.read_ns = self._clock.to_perf(wall_ns)
        if error is not None:
            exchange.fail(error)
            self.close()
        elif not data:
            exchange.end_of_stream()
            self.close()
        else:
            exchange.feed(data)
            if exchange.error is not None:
                self.close()

    async def write(self, data: bytes) -> int | None:
        """Write all of `data`; returns the kernel's stamp of when its last bytes left (on the
        perf_counter clock), or None when the kernel gave none."""
        send_stamp(self.sock)  # left from an earlier request: not this one's
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                raise ConnectionLost(f"{type(exc).__name__}: {exc}") from None
            view = view[sent:]
            if view:
                await self._writable()
        wall_ns = send_stamp(self.sock)
        return self._clock.to_perf(wall_ns) if wall_ns is not None else None

    async def _writable(self) -> None:
        future = self._loop.create_future()
        self._loop.add_writer(self._fd, future.set_result, None)
        try:
            await future
        finally:
            self._loop.remove_writer(self._fd)
        if self.closed:
            raise ConnectionLost("the connection closed while the request was written")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._fd)
        self.sock.close()
        self._on_close(self)


class ConnectionPool:
    """Keep-alive connections to one server (host and port of an http:// URL)."""

    def __init__(self, url: str, *, clock: WallClock | None = None, stamped: bool = True):
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"the stamped transport speaks plain http, not {parts.scheme!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.clock = clock or WallClock()
        self.stamped = stamped
        self._idle: list[Connection] = []
        self._busy: set[Connection] = set()
        self._address: tuple | None = None

    @property
    def idle(self) -> int:
        return len(self._idle)

    def request_bytes(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        """The request as it goes on the wire; `target` is the path (and query)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}", f"User-Agent: {_USER_AGENT}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"header {name!r} holds a character HTTP does not allow there")
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, exchange: Exchange) -> Exchange:
        """Write the request, wait for the whole response; raises a TransportError on failure
        (the exchange keeps what arrived: its sink got each piece already)."""
        await self.start(exchange)
        try:
            await exchange.finished()
        finally:
            self.release(exchange)
        return exchange

    async def start(self, exchange: Exchange) -> None:
        """Take a connection and write the request; the response then arrives on its own
        (`exchange.finished()`). `release(exchange)` must follow, whatever happens.

        A kept-alive connection that the server closed just before the request went (its
        idle timeout; the close not yet seen here) fails before any byte of an answer: the
        request goes once more, on a new connection, and `t_start` is that second write's.
        Only then does `start` wait for the response's head."""
        for retry in (True, False):
            connection, reused = await self._acquire(exchange)
            exchange.bind(connection, asyncio.get_running_loop(), self.clock.steps)
            connection.exchange = exchange
            try:
                sent_ns = await connection.write(exchange.request)
                if sent_ns is None:
                    exchange.unstamped_reads += 1  # the start is this process's time: not all kernel
                    sent_ns = time.perf_counter_ns()
                exchange.t_start_ns = sent_ns
                if exchange.on_written is not None:
                    exchange.on_written(sent_ns)
                if retry and reused:
                    await exchange.head_or_end()
            except ConnectionLost:
                self.release(exchange)
                if retry and reused:
                    continue
                raise
            except BaseException:
                self.release(exchange)
                raise
            if exchange.head_done or not (retry and reused and isinstance(exchange.error, ConnectionLost)):
                return
            self.release(exchange)

    def release(self, exchange: Exchange) -> None:
        """Give the exchange's connection back: kept alive after a whole response, else closed
        (cancelled or failed mid-request, its state is unknown)."""
        connection, exchange._connection = exchange._connection, None
        if connection is None:
            return
        exchange.clock_steps = self.clock.steps - exchange.clock_steps
        self._busy.discard(connection)
        if exchange.complete and exchange.error is None and exchange.keep_alive and not connection.closed:
            connection.exchange = None
            self._idle.append(connection)
        else:
            connection.close()

    async def open(self, count: int) -> None:
        """Open connections until `count` are idle (before a level); failures are left for the
        level to meet and record."""
        missing = count - len(self._idle)
        if missing <= 0:
            return
        results = await asyncio.gather(*(self._connect() for _ in range(missing)), return_exceptions=True)
        self._idle.extend(c for c in results if isinstance(c, Connection) and not c.closed)

    def close(self) -> None:
        for connection in [*self._idle, *self._busy]:
            connection.close()
        self._idle.clear()
        self._busy.clear()

    async def _acquire(self, exchange: Exchange) -> tuple[Connection, bool]:
        """A connection for the exchange, and whether it is a kept-alive one."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                self._busy.add(connection)
                return connection, True
        started = time.perf_counter_ns()
        connection = await self._connect()
        exchange.connect_ns = time.perf_counter_ns() - started
        self._busy.add(connection)
        return connection, False

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        family, address = await self._resolve(loop)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.stamped:
                enable_kernel_stamps(sock)
                enable_send_stamps(sock)
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await loop.sock_connect(sock, address)
        except TimeoutError:
            sock.close()
            raise ConnectFailed(self.host, self.port, f"no answer within {CONNECT_TIMEOUT_S:g} s") from None
        except OSError as exc:
            sock.close()
            raise ConnectFailed(self.host, self.port, connect_failure(exc)) from None
        except BaseException:
            sock.close()
            raise
        return Connection(sock, loop, self.clock, self._forget)

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> tuple[int, tuple]:
        if self._address is None:
            try:
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise ConnectFailed(self.host, self.port, connect_failure(exc)) from None
            family, _, _, _, address = infos[0]
            self._address = (family, address)
        return self._address

    def _forget(self, connection: Connection) -> None:
        self._busy.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
