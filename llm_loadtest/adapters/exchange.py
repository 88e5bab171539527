"""One HTTP request and its record, for every adapter: the send, the clock, the error classes.

An adapter supplies how to read a successful response into `Chunks` (adapters.http); this module sends,
stamps, and turns every way a request can end into an outcome. It never raises for a failed
request: a load tester that loses a record because a server answered oddly lies about it.

A request goes on the client's own socket with kernel stamps when the session has a stamped
pool for its server (`_post_stamped`, adapters.stamped), else through aiohttp (`_post`); the
reader reads either response alike, and the record says which clock timed it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, cast
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from llm_loadtest.adapters.stamped import StampedResponse, mark_stamped, stamped_pool
from llm_loadtest.model.errors import connect_failure
from llm_loadtest.model.records import Outcome, RequestRecord
from llm_loadtest.transport.http1 import BadResponse, BodySink, ConnectFailed, ConnectionLost, ConnectionPool, Exchange

_ERROR_BODY_LIMIT = 300
# requests made before and after the run (not measured) get this long at most
SIDE_REQUEST_TIMEOUT_S = 30.0


class Response(Protocol):
    """What a reader reads: aiohttp's response, or the stamped one of the client's own sockets;
    a streamed body through `read_body`."""

    @property
    def status(self) -> int: ...

    async def read(self) -> bytes: ...

    async def text(self, *, errors: str = "strict") -> str: ...


@dataclass(slots=True)
class Chunks:
    """What a response delivered so far: kept when the request fails half-way, and read by
    the progress display while the request goes."""

    times: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    reasoning: int = 0
    started_ns: int = 0  # the request's t_start
    reasoning_at: list[int] = field(default_factory=list)  # indexes of the reasoning chunks
    first_answer_ns: int | None = None  # the first chunk that is not reasoning

    def add(self, t_ns: int, text: str, *, reasoning: bool = False) -> None:
        if reasoning:
            self.reasoning += 1
            self.reasoning_at.append(len(self.times))
        elif self.first_answer_ns is None:
            self.first_answer_ns = t_ns
        self.times.append(t_ns)
        self.texts.append(text)

    def answer_text(self) -> str:
        """What a chat client shows and sends back: the content, without the reasoning."""
        if not self.reasoning_at:
            return "".join(self.texts)
        skipped = set(self.reasoning_at)
        return "".join(text for i, text in enumerate(self.texts) if i not in skipped)


class Problem(Exception):
    """A response the reader cannot accept; ends the request with this outcome."""

    def __init__(self, outcome: Outcome, message: str):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class ConnectTrace:
    """Filled by aiohttp's trace hooks when this request had to open a connection."""

    start_ns: int = 0
    end_ns: int = 0


def connect_trace_config() -> aiohttp.TraceConfig:
    """Hooks that time TCP connects per request, so that connect time is recorded apart."""
    config = aiohttp.TraceConfig()

    async def on_start(session, ctx, params) -> None:
        if ctx.trace_request_ctx is not None:
            ctx.trace_request_ctx.start_ns = time.perf_counter_ns()

    async def on_end(session, ctx, params) -> None:
        if ctx.trace_request_ctx is not None:
            ctx.trace_request_ctx.end_ns = time.perf_counter_ns()

    config.on_connection_create_start.append(on_start)
    config.on_connection_create_end.append(on_end)
    return config


def arrival_clock(resp: aiohttp.ClientResponse) -> Callable[[], int]:
    """When the bytes just read arrived: the engine's connections stamp them as they come off
    the socket (engine.session); elsewhere, now. A response read whole during the request has
    already let go of its connection, so the protocol is taken from the response itself."""
    protocol = resp.connection.protocol if resp.connection is not None else getattr(resp, "_protocol", None)
    if protocol is not None and hasattr(protocol, "arrival_ns"):
        return lambda: protocol.arrival_ns
    return time.perf_counter_ns


async def read_body(resp: Response, feed: BodySink, clock: Callable[[], int]) -> None:
    """Give `feed(data, t_ns)` each read of a streamed body with its arrival time, until the
    body ends; raises what broke it, or what `feed` raised. On the client's own sockets `feed`
    runs in the reader callback as the bytes arrive (no task wakes up per chunk); on aiohttp,
    here, as each read comes off its queue."""
    if isinstance(resp, StampedResponse):
        await resp.stream_to(feed)
        return
    async for data in cast(aiohttp.ClientResponse, resp).content.iter_any():
        feed(data, clock())


Reader = Callable[[RequestRecord, Response, Chunks, Callable[[], int]], Awaitable[None]]


async def exchange(
    session: aiohttp.ClientSession,
    url: str,
    payload: bytes,
    headers: dict[str, str],
    record: RequestRecord,
    read: Reader,
    *,
    timeout: float | None,
    chunks: Chunks | None = None,
) -> None:
    """POST and read; the record gets times, chunks and the outcome, whatever happens.
    `chunks`, when given, fills as the response streams (for a progress display)."""
    trace = ConnectTrace()
    chunks = Chunks() if chunks is None else chunks
    pool = stamped_pool(session, url)
    try:
        async with asyncio.timeout(timeout):
            post = (
                _post_stamped(pool, url, payload, headers, record, chunks)
                if pool
                else _post(session, url, payload, headers, record, chunks, trace)
            )
            async with post as (resp, clock):
                if resp.status != 200:
                    body = await resp.text(errors="replace")
                    record.t_end_ns = clock()
                    record.http_status = resp.status
                    outcome = Outcome.HTTP_4XX if resp.status < 500 else Outcome.HTTP_5XX
                    fail(record, outcome, http_error(resp.status, body))
                else:
                    await read(record, resp, chunks, clock)
    except Problem as exc:
        fail(record, exc.outcome, str(exc))
    except aiohttp.ConnectionTimeoutError as exc:  # a TimeoutError too, but not the request's
        fail(record, Outcome.CONNECT, cannot_connect(origin(url), exc))
    except TimeoutError:
        fail(record, Outcome.TIMEOUT, f"no complete response within {timeout:g} s")
    except asyncio.CancelledError:
        # the engine cancels what is in flight when the user stops: kept out of the failures
        fail(record, Outcome.CANCELLED, "cancelled by the user")
    except (aiohttp.ClientConnectorError, ConnectFailed) as exc:
        fail(record, Outcome.CONNECT, cannot_connect(origin(url), exc))
    except ConnectionLost as exc:
        fail(record, Outcome.STREAM_BROKEN, short(exc))
    except BadResponse as exc:
        fail(record, Outcome.MALFORMED, short(exc))
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        fail(record, Outcome.STREAM_BROKEN, short(exc))
    except aiohttp.ClientResponseError as exc:  # not valid HTTP
        fail(record, Outcome.MALFORMED, short(exc))
    except aiohttp.ClientError as exc:
        fail(record, Outcome.CONNECT, cannot_connect(origin(url), exc))
    except Exception as exc:  # a reader met a shape it did not expect
        fail(record, Outcome.MALFORMED, f"unexpected response: {short(exc)}")
    finally:
        record.chunk_times_ns = np.array(chunks.times, dtype=np.int64)
        record.chunk_texts = chunks.texts
        record.reasoning_chunks = chunks.reasoning
        record.reasoning_at = chunks.reasoning_at
        record.t_first_answer_ns = chunks.first_answer_ns
    if trace.end_ns:
        record.connect_ns = trace.end_ns - trace.start_ns


@asynccontextmanager
async def _post(session, url, payload, headers, record, chunks, trace) -> AsyncIterator[tuple[aiohttp.ClientResponse, Callable[[], int]]]:
    """aiohttp's request: `t_start` before it is handed over, arrival times in this process."""
    record.t_start_ns = chunks.started_ns = time.perf_counter_ns()
    async with session.post(url, data=payload, headers=headers, trace_request_ctx=trace) as resp:
        yield resp, arrival_clock(resp)


@asynccontextmanager
async def _post_stamped(
    pool: ConnectionPool, url, payload, headers, record, chunks
) -> AsyncIterator[tuple[StampedResponse, Callable[[], int]]]:
    """The client's own socket: `t_start` right after the request's last byte was written,
    arrival times by the kernel."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    response = StampedResponse()
    # until the write: a request that fails to connect has its failure's time span all the same
    record.t_start_ns = chunks.started_ns = time.perf_counter_ns()

    def written(t_ns: int) -> None:
        record.t_start_ns = chunks.started_ns = t_ns

    exchange = Exchange(pool.request_bytes("POST", target, headers, payload), sink=response.feed, on_written=written)
    response.bind(exchange)
    await pool.start(exchange)
    try:
        await response.head()
        yield response, response.clock
    finally:
        pool.release(exchange)
        mark_stamped(record, exchange)


def fail(record: RequestRecord, outcome: Outcome, message: str) -> None:
    """Mark the record failed; its end is now unless the reader already stamped it."""
    record.outcome = outcome
    record.error = message
    if not record.t_end_ns:
        record.t_end_ns = time.perf_counter_ns()


def http_error(status: int, body: str) -> str:
    """`HTTP 400: message`, or `HTTP 400 (empty body)` when the server said nothing more."""
    # aiohttp's and others' plain bodies repeat the status: "404: Not Found"
    message = excerpt(error_message(body)).removeprefix(f"{status}: ")
    return f"HTTP {status}: {message}" if message else f"HTTP {status} (empty body)"


def error_message(text: str) -> str:
    """The message of an error body: OpenAI's and vLLM's {"error": {"message"}}, Triton's
    {"error": "..."}, {"message": "..."}, FastAPI's {"detail": "..."} (or its list of
    {"msg"}); else the body itself."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    key = next((key for key in ("error", "message", "detail") if isinstance(body, dict) and key in body), None)
    if key is None:
        return text
    error = body[key]
    if isinstance(error, dict):
        return str(error.get("message", error))
    if isinstance(error, list) and all(isinstance(item, dict) and "msg" in item for item in error):
        return "; ".join(str(item["msg"]) for item in error)
    return str(error)


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_BODY_LIMIT else text[:_ERROR_BODY_LIMIT] + "..."


def cannot_connect(where: str, exc: BaseException) -> str:
    """One plain line for a connection that could not be opened:
    `cannot connect to http://127.0.0.1:8000: connection refused` (or `host not found`, ...)."""
    return f"cannot connect to {where}: {connect_reason(exc)}"


def connect_reason(exc: BaseException) -> str:
    """Why, without the client library's wrapping ("ssl:default [Connect call failed ...]")."""
    if isinstance(exc, ConnectFailed):
        return exc.reason
    if isinstance(exc, aiohttp.ClientSSLError):  # its errno is OpenSSL's, not the OS's
        error = exc.os_error
        return f"TLS handshake failed ({getattr(error, 'verify_message', None) or getattr(error, 'reason', None) or error})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return connect_failure(exc.os_error)
    if isinstance(exc, TimeoutError):  # aiohttp's ConnectionTimeoutError among them
        return "no answer (connection timed out)"
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError):
        return connect_failure(exc)
    return short(exc)


def origin(url: str) -> str:
    """`http://host:8000` of a request's URL: what a connection goes to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
