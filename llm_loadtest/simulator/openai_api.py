"""The HTTP routes: OpenAI's /v1 API as vLLM serves it, plus /health, /metrics and /tokenize."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from llm_loadtest.simulator.batching import SHUTDOWN, BatchScheduler, Sequence
from llm_loadtest.simulator.chunklog import ChunkLog, ChunkLogEntry
from llm_loadtest.simulator.encoding import DONE, MALFORMED_EVENT, StreamEncoder, full_response
from llm_loadtest.simulator.faults import Fault, draw_fault, fault_point, request_rng
from llm_loadtest.simulator.metrics import SimMetrics
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.simulator.protocol import (
    ApiError,
    Endpoint,
    GenRequest,
    bad_request,
    chat_prompt_text,
    error_response,
    model_not_found,
    parse_generation,
    read_json,
)
from llm_loadtest.simulator.words import pick_words
from llm_loadtest.tokens.tokenizer import Tokenizer

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
# a write to a closed connection, or the handler cancelled because the client left
_CLIENT_GONE = (ConnectionError, asyncio.CancelledError)
_ERROR_EVENT = (
    b'data: {"error":{"object":"error","message":"Simulated engine error mid-stream.",'
    b'"type":"InternalServerError","param":null,"code":500}}\n\n'
)
_FAULT_ERRORS = {
    Fault.HTTP_500: (500, "Simulated internal server error.", "InternalServerError"),
    Fault.HTTP_429: (429, "Simulated rate limit: too many requests.", "RateLimitError"),
}


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


STATE = web.AppKey("sim_state", SimState)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/tokenize", tokenize)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.middlewares.append(api_key_middleware)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def api_key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.app[STATE].options.api_key
    if key is not None and request.path.startswith("/v1/"):
        given = request.headers.get("Authorization", "")
        # constant time: the simulator may be used to test clients' key handling over a network
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            return error_response(401, "Invalid or missing API key.", "AuthenticationError")
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.Response(body=state.metrics.render(), headers={"Content-Type": state.metrics.content_type})


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    model = {
        "id": state.options.model,
        "object": "model",
        "created": state.started,
        "owned_by": "llm-loadtest",
        "root": state.options.model,
        "parent": None,
        "max_model_len": state.options.max_model_len,
    }
    return web.json_response({"object": "list", "data": [model]})


async def tokenize(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = await read_json(request)
        if "model" in body and body["model"] != state.options.model:
            raise model_not_found(str(body["model"]))
        if isinstance(body.get("prompt"), str):
            text = body["prompt"]
        elif "messages" in body:
            text = chat_prompt_text(body["messages"])
        else:
            raise bad_request("give `prompt` (a string) or `messages`")
    except ApiError as exc:
        return exc.response()
    tokens = state.tokenizer.encode(text)
    return web.json_response(
        {"count": len(tokens), "max_model_len": state.options.max_model_len, "tokens": tokens, "token_strs": None}
    )


async def completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "completions")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "chat")


async def _generate(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    t_recv_ns = time.perf_counter_ns()
    state = request.app[STATE]
    options = state.options
    rng = request_rng(options.seed, next(state.arrivals))
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    entry = ChunkLogEntry(request_id=request_id, endpoint=endpoint, stream=False, t_recv_ns=t_recv_ns)
    try:
        try:
            body = await read_json(request)
            entry.stream = body.get("stream") is True
            req = parse_generation(body, endpoint, options.model, state.tokenizer, options.max_model_len)
            entry.prompt_tokens = req.prompt_tokens
            if options.reject_stream_options and req.has_stream_options:
                raise bad_request("Unrecognized request argument supplied: stream_options")
        except ApiError as exc:
            entry.status = exc.status
            return exc.response()
        fault = draw_fault(rng, options, req.stream)
        entry.fault = fault.value if fault is not None else None
        if fault in _FAULT_ERRORS:
            status, message, type_ = _FAULT_ERRORS[fault]
            entry.status = status
            return error_response(status, message, type_)
        words = pick_words(rng, req.max_tokens)
        state.metrics.count_prompt(req.prompt_tokens)
        completion_id = f"{'chatcmpl' if endpoint == 'chat' else 'cmpl'}-{request_id}"
        if req.stream:
            return await _stream(request, state, req, words, fault, completion_id, entry)
        return await _whole(request, state, req, words, completion_id, entry)
    finally:
        entry.t_done_ns = time.perf_counter_ns()
        if state.chunk_log is not None:
            state.chunk_log.write(entry)


def _sequence(req: GenRequest, stall_after: int | None) -> Sequence:
    return Sequence(prompt_tokens=req.prompt_tokens, max_tokens=req.max_tokens, stall_after=stall_after)


async def _whole(
    request: web.Request, state: SimState, req: GenRequest, words: list[int], completion_id: str, entry: ChunkLogEntry
) -> web.StreamResponse:
    seq = _sequence(req, None)
    state.scheduler.submit(seq)
    try:
        received = 0
        while received < req.max_tokens:
            n = await seq.chunks.get()
            if n == SHUTDOWN:
                raise web.HTTPServiceUnavailable(text="the simulator is shutting down")
            received += n
        body = full_response(
            req.endpoint, completion_id, state.started, req.model, words, req.prompt_tokens, not state.options.no_usage
        )
        response = web.json_response(body, headers={"X-Request-Id": entry.request_id})
        await response.prepare(request)
        # stamped as the bytes go to the socket: a later stamp (after draining) can fall
        # after the client has already read them
        entry.chunk_send_ns.append(time.perf_counter_ns())
        await response.write_eof()
        entry.chunk_tokens.append(received)
        entry.completion_tokens = received
        state.metrics.count_success()
        return response
    except _CLIENT_GONE:
        entry.client_gone = True
        raise
    finally:
        entry.t_first_sched_ns = seq.t_admitted_ns
        state.scheduler.cancel(seq)


async def _stream(
    request: web.Request,
    state: SimState,
    req: GenRequest,
    words: list[int],
    fault: Fault | None,
    completion_id: str,
    entry: ChunkLogEntry,
) -> web.StreamResponse:
    point = fault_point(fault, req.max_tokens)
    seq = _sequence(req, point.after_tokens if point is not None and point.fault is Fault.STALL else None)
    encoder = StreamEncoder(req.endpoint, completion_id, state.started, req.model)
    response = web.StreamResponse(headers={**SSE_HEADERS, "X-Request-Id": entry.request_id})
    await response.prepare(request)
    state.scheduler.submit(seq)
    sent = 0
    role_event = encoder.role_event  # sent with the first content event, as vLLM does
    try:
        while sent < req.max_tokens:
            if point is not None and sent >= point.after_tokens:
                if point.fault is Fault.DROP:
                    _drop_connection(request)
                    return response
                if point.fault is Fault.ERROR_EVENT:
                    # as vLLM reports an engine error in a stream: an error event, then [DONE]
                    await response.write(_ERROR_EVENT + DONE)
                    await response.write_eof()
                    return response
                if point.fault is Fault.MALFORMED:
                    await response.write(MALFORMED_EVENT)
                point = None
            n = await seq.chunks.get()
            if n == SHUTDOWN:
                _drop_connection(request)
                return response
            data = encoder.content_event(words[sent : sent + n], last=sent + n >= req.max_tokens)
            if role_event:
                data, role_event = role_event + data, b""
            entry.chunk_send_ns.append(time.perf_counter_ns())
            await response.write(data)
            entry.chunk_tokens.append(n)
            sent += n
            entry.completion_tokens = sent
        if req.include_usage and not state.options.no_usage:
            await response.write(encoder.usage_event(req.prompt_tokens, sent))
        await response.write(DONE)
        await response.write_eof()
        state.metrics.count_success()
        return response
    except _CLIENT_GONE:
        entry.client_gone = True
        raise
    finally:
        entry.t_first_sched_ns = seq.t_admitted_ns
        state.scheduler.cancel(seq)


def _drop_connection(request: web.Request) -> None:
    """Cut the connection with the body unfinished: the client sees an incomplete chunked body."""
    transport = request.transport
    if transport is not None:
        transport.abort()
