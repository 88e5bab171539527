"""The HTTP routes: OpenAI's /v1 API as vLLM serves it, plus /health, /metrics and a tokenize
endpoint (simulator.tokenize_api)."""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any

from aiohttp import web

from llm_loadtest.simulator.chunklog import ChunkLogEntry, text_hash
from llm_loadtest.simulator.encoding import DONE, StreamEncoder, full_response
from llm_loadtest.simulator.faults import Fault
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.simulator.protocol import (
    ApiError,
    Endpoint,
    GenRequest,
    bad_request,
    chat_prompt_text,
    parse_generation,
    read_json,
)
from llm_loadtest.simulator.serving import STATE, SimState, api_key_middleware, handle_generation, health, metrics
from llm_loadtest.simulator.tokenize_api import add_tokenize_routes

_ERROR_EVENT = (
    b'data: {"error":{"object":"error","message":"Simulated engine error mid-stream.",'
    b'"type":"InternalServerError","param":null,"code":500}}\n\n'
)
_FAULT_ERRORS = {
    Fault.HTTP_500: ApiError(500, "Simulated internal server error.", "InternalServerError"),
    Fault.HTTP_429: ApiError(429, "Simulated rate limit: too many requests.", "RateLimitError"),
}


def add_routes(app: web.Application, options: SimOptions) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    add_tokenize_routes(app, options.tokenize)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.middlewares.append(api_key_middleware(("/v1/",), ApiError(401, "Invalid or missing API key.", "AuthenticationError")))


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


async def completions(request: web.Request) -> web.StreamResponse:
    return await handle_generation(request, "completions", partial(_parse, "completions"), _FAULT_ERRORS)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await handle_generation(request, "chat", partial(_parse, "chat"), _FAULT_ERRORS)


async def _parse(endpoint: Endpoint, request: web.Request, state: SimState, entry: ChunkLogEntry) -> _Reply:
    options = state.options
    body = await read_json(request)
    entry.stream = body.get("stream") is True
    req = parse_generation(body, endpoint, options.model, state.tokenizer, options.max_model_len)
    entry.prompt_tokens = req.prompt_tokens  # logged even when refused for its stream_options
    if endpoint == "chat" and state.chunk_log is not None:
        entry.message_hashes = [[str(m.get("role")), text_hash(chat_prompt_text([m]))] for m in body["messages"]]
    if options.reject_stream_options and req.has_stream_options:
        raise bad_request("Unrecognized request argument supplied: stream_options")
    # a reasoning model thinks first: its first K tokens are reasoning, on the chat endpoint
    entry.reasoning_tokens = min(options.reasoning_tokens, req.max_tokens) if endpoint == "chat" else 0
    return _Reply(req, entry.request_id, state, entry.reasoning_tokens)


class _Reply:
    """How OpenAI's API answers one generation request (a serving.Reply)."""

    # as vLLM reports an engine error in a stream: an error event, then [DONE]
    error_event = _ERROR_EVENT + DONE

    def __init__(self, req: GenRequest, request_id: str, state: SimState, reasoning_tokens: int = 0):
        self.prompt_tokens = req.prompt_tokens
        self.prompt_ids = req.prompt_ids
        self._reasoning_tokens = reasoning_tokens
        self.max_tokens = req.max_tokens
        self.stream = req.stream
        self._req = req
        self._completion_id = f"{'chatcmpl' if req.endpoint == 'chat' else 'cmpl'}-{request_id}"
        self._created = state.started
        self._with_usage = not state.options.no_usage

    @cached_property
    def _events(self) -> StreamEncoder:
        # built on first use: a non-streaming request needs none
        return StreamEncoder(self._req.endpoint, self._completion_id, self._created, self._req.model)

    def content_event(self, words: list[int], start: int, end: int) -> bytes:
        # a chunk that begins among the reasoning tokens is reasoning (one token a chunk by default)
        data = self._events.content_event(words[start:end], last=end >= self.max_tokens, reasoning=start < self._reasoning_tokens)
        # the role goes with the first content event (the only one from 0: a chunk has 1+ tokens),
        # as vLLM sends it; empty for completions
        return self._events.role_event + data if start == 0 else data

    def end_events(self, sent: int) -> list[bytes]:
        if self._req.include_usage and self._with_usage:
            return [self._events.usage_event(self.prompt_tokens, sent), DONE]
        return [DONE]

    def whole_body(self, words: list[int]) -> dict[str, Any]:
        req = self._req
        return full_response(
            req.endpoint, self._completion_id, self._created, req.model, words, req.prompt_tokens, self._with_usage, self._reasoning_tokens
        )

    def shutting_down(self) -> web.Response:
        # raised: aiohttp answers it as plain text (returning an HTTPException is deprecated)
        raise web.HTTPServiceUnavailable(text="the simulator is shutting down")
