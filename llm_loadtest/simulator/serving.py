"""What both APIs' routes share: the server state, the API-key check, /health and /metrics, and
the generation flow (faults, batching, writing, the chunk log).

A generation route only parses its request into a `Reply`, which says how that API writes
the answer; `handle_generation` does the rest, so both APIs batch, fail and log alike.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from llm_loadtest.simulator.batching import SHUTDOWN, BatchScheduler, Sequence
from llm_loadtest.simulator.chunklog import ChunkLog, ChunkLogEntry, text_hash
from llm_loadtest.simulator.faults import Fault, draw_fault, fault_point, request_rng
from llm_loadtest.simulator.metrics import SimMetrics
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.simulator.prefix_cache import LOGGED_BLOCKS, PrefixCache
from llm_loadtest.simulator.words import pick_words, text_of
from llm_loadtest.tokens.tokenizer import Tokenizer
from llm_loadtest.transport.server import StampingListener

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
# The malformed-event fault: an SSE event whose data is not JSON.
MALFORMED_EVENT = b"data: {not json\n\n"
# a write to a closed connection, or the handler cancelled because the client left
_CLIENT_GONE = (ConnectionError, asyncio.CancelledError)


@dataclass
class SimState:
    options: SimOptions
    tokenizer: Tokenizer
    scheduler: BatchScheduler
    metrics: SimMetrics
    chunk_log: ChunkLog | None
    started: int = field(default_factory=lambda: int(time.time()))
    # the arrival number of each generation request: with the seed, it fixes its randomness
    arrivals: itertools.count = field(default_factory=itertools.count)
    prefix_cache: PrefixCache | None = field(default_factory=PrefixCache)


STATE = web.AppKey("sim_state", SimState)
LISTENER = web.AppKey("sim_listener", StampingListener)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestError(Exception):
    """A request answered with an error status before any generation; each API shapes the body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        raise NotImplementedError


class Reply(Protocol):
    """A parsed generation request and how its API writes the answer: all that differs
    between the APIs once a request is read."""

    prompt_tokens: int
    max_tokens: int
    stream: bool
    error_event: bytes  # the error_event fault's bytes, the stream's last

    @property
    def prompt_ids(self) -> list[int] | None:
        """The prompt's tokens when known (for the prefix cache); read only, so a reply may fix it."""
        ...

    def content_event(self, words: list[int], start: int, end: int) -> bytes:
        """The stream event carrying tokens start..end of `words`."""
        ...

    def end_events(self, sent: int) -> Iterable[bytes]:
        """Written one by one after the last content event (each write is its own HTTP chunk)."""
        ...

    def whole_body(self, words: list[int]) -> dict[str, Any]:
        """A non-streaming response's JSON body."""
        ...

    def shutting_down(self) -> web.Response:
        """The answer to a non-streaming request that the server's shutdown cut short."""
        ...


Parse = Callable[[web.Request, SimState, ChunkLogEntry], Awaitable[Reply]]


def api_key_middleware(prefixes: tuple[str, ...], unauthorized: RequestError) -> Middleware:
    """Checks `--api-key` on the paths under `prefixes`, answering `unauthorized` on a mismatch."""

    @web.middleware
    async def check_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.app[STATE].options.api_key
        if key is not None and request.path.startswith(prefixes):
            given = request.headers.get("Authorization", "")
            # constant time: the simulator may be used to test clients' key handling over a network
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                return unauthorized.response()
        return await handler(request)

    return check_api_key


@web.middleware
async def strict_request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`--strict-request-id`: an `X-Request-Id` that is not a UUID gets an empty HTTP 400, as
    llama-cpp-python's server answers it (its middleware validates the header)."""
    given = request.headers.get("X-Request-Id")
    if given is not None:
        try:
            uuid.UUID(given)
        except ValueError:
            return web.Response(status=400)
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.Response(body=state.metrics.render(), headers={"Content-Type": state.metrics.content_type})


async def handle_generation(
    request: web.Request,
    endpoint: str,
    parse: Parse,
    fault_errors: Mapping[Fault, RequestError],
    *,
    stream: bool = False,
) -> web.StreamResponse:
    """Serve one generation request and log it. `endpoint` and `stream` start its chunk log
    entry; `parse` may update the entry (OpenAI knows `stream` only from the body)."""
    t_handler_ns = time.perf_counter_ns()
    state = request.app[STATE]
    options = state.options
    rng = request_rng(options.seed, next(state.arrivals))
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    entry = ChunkLogEntry(request_id=request_id, endpoint=endpoint, stream=stream, t_recv_ns=t_handler_ns)
    try:
        try:
            reply = await parse(request, state, entry)
        except RequestError as exc:
            entry.status = exc.status
            return exc.response()
        finally:
            # the request is read whole now: its connection's latest read carried its last bytes
            entry.t_recv_ns = request_arrival_ns(request) or t_handler_ns
        entry.prompt_tokens = reply.prompt_tokens
        cached = _look_up_prefix(state, reply, entry)
        fault = draw_fault(rng, options, reply.stream)
        entry.fault = fault.value if fault is not None else None
        if fault is not None and fault in fault_errors:
            error = fault_errors[fault]
            entry.status = error.status
            return error.response()
        # drawn after the fault whatever the API: with a seed, the same words for the same arrival
        words = pick_words(rng, reply.max_tokens)
        if state.chunk_log is not None:  # what the answer's content will be, for the log
            entry.answer_hash = text_hash(text_of(words[entry.reasoning_tokens :]))
        state.metrics.count_prompt(reply.prompt_tokens)
        if reply.stream:
            return await _stream(request, state, reply, words, fault, entry, cached)
        return await _whole(request, state, reply, words, entry, cached)
    finally:
        entry.t_done_ns = time.perf_counter_ns()
        if state.chunk_log is not None:
            state.chunk_log.write(entry)


def _look_up_prefix(state: SimState, reply: Reply, entry: ChunkLogEntry) -> int:
    """Prompt tokens the prefix cache holds already (they cost no prefill); logged with the
    prompt's first block hashes."""
    ids = getattr(reply, "prompt_ids", None)
    if state.prefix_cache is None or ids is None:
        return 0
    cached, hashes = state.prefix_cache.lookup(ids)
    entry.cached_tokens = cached
    entry.block_hashes = hashes[:LOGGED_BLOCKS]
    state.metrics.count_prefix_lookup(len(ids), cached)
    return cached


async def _whole(
    request: web.Request, state: SimState, reply: Reply, words: list[int], entry: ChunkLogEntry, cached: int
) -> web.StreamResponse:
    seq = Sequence(prompt_tokens=reply.prompt_tokens, max_tokens=reply.max_tokens, cached_tokens=cached)
    with _batched(state, seq, entry):
        received = 0
        while received < reply.max_tokens:
            n = await seq.chunks.get()
            if n == SHUTDOWN:
                return reply.shutting_down()
            received += n
        response = web.json_response(reply.whole_body(words), headers={"X-Request-Id": entry.request_id})
        await response.prepare(request)
        entry.chunk_write_ns.append(time.perf_counter_ns())
        await response.write_eof()
        # right after the body went to the socket (no await in between that could wait on a
        # busy loop): the kernel has the bytes, the client may stamp them from now on
        entry.chunk_send_ns.append(time.perf_counter_ns())
        entry.chunk_tokens.append(received)
        entry.completion_tokens = received
        state.metrics.count_success()
        return response


async def _stream(
    request: web.Request, state: SimState, reply: Reply, words: list[int], fault: Fault | None, entry: ChunkLogEntry, cached: int
) -> web.StreamResponse:
    point = fault_point(fault, reply.max_tokens)
    stall_after = point.after_tokens if point is not None and point.fault is Fault.STALL else None
    seq = Sequence(prompt_tokens=reply.prompt_tokens, max_tokens=reply.max_tokens, cached_tokens=cached, stall_after=stall_after)
    response = web.StreamResponse(headers={**SSE_HEADERS, "X-Request-Id": entry.request_id})
    await response.prepare(request)
    sent = 0
    with _batched(state, seq, entry):
        while sent < reply.max_tokens:
            if point is not None and sent >= point.after_tokens:
                if point.fault is Fault.DROP:
                    _drop_connection(request)
                    return response
                if point.fault is Fault.ERROR_EVENT:
                    # the status (200) went with the headers: the error can only come as an event
                    await response.write(reply.error_event)
                    await response.write_eof()
                    return response
                if point.fault is Fault.MALFORMED:
                    await response.write(MALFORMED_EVENT)
                point = None
            n = await seq.chunks.get()
            if n == SHUTDOWN:
                _drop_connection(request)
                return response
            data = reply.content_event(words, sent, sent + n)
            entry.chunk_write_ns.append(time.perf_counter_ns())
            await response.write(data)
            # right after the write, as for a whole response
            entry.chunk_send_ns.append(time.perf_counter_ns())
            entry.chunk_tokens.append(n)
            sent += n
            entry.completion_tokens = sent
        for event in reply.end_events(sent):
            await response.write(event)
        await response.write_eof()
        state.metrics.count_success()
        return response


@contextmanager
def _batched(state: SimState, seq: Sequence, entry: ChunkLogEntry) -> Iterator[None]:
    """Runs `seq` in the batch for the block's length: however the block ends, its slot is freed
    and the log gets its admission time and whether the client left."""
    state.scheduler.submit(seq)
    try:
        yield
    except _CLIENT_GONE:
        entry.client_gone = True
        raise
    finally:
        entry.t_first_sched_ns = seq.t_admitted_ns
        entry.chunk_step_ns = [round(t * 1e9) for t in seq.step_times]
        if seq.stall_began is not None:
            entry.stall_ns = [_loop_ns(seq.stall_began), _loop_ns(seq.stall_resumed)]
        state.scheduler.cancel(seq)


def _loop_ns(seconds: float | None) -> int | None:
    # the event loop's clock is time.monotonic(), CLOCK_MONOTONIC as perf_counter_ns() on Linux
    return None if seconds is None else round(seconds * 1e9)


def request_arrival_ns(request: web.Request) -> int | None:
    """The kernel's arrival time (perf_counter clock) of the latest bytes read on the request's
    connection; None when the server does not stamp its connections."""
    listener = request.app.get(LISTENER)
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if listener is None or sock is None:
        return None
    connection = listener.connection(sock.fileno())
    return connection.arrival_ns if connection is not None and connection.arrival_ns else None


def _drop_connection(request: web.Request) -> None:
    """Cut the connection with the body unfinished: the client sees an incomplete chunked body."""
    transport = request.transport
    if transport is not None:
        transport.abort()
