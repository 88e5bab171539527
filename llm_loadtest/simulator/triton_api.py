"""The HTTP routes of `simulate --api triton`: Triton Inference Server's generate extension.

Served as a TensorRT-LLM `ensemble` model behind Triton would serve it:
- `GET /v2/health/ready`, `GET /v2/health/live`, `GET /v2` (server metadata);
- `GET /v2/models/{model}/ready`: 200, or 400 with `--triton-not-ready` or an unknown model;
- `GET /v2/models/{model}` (model metadata), `POST /v2/repository/index`;
- `POST /v2/models/{model}/generate`: one JSON object `{"model_name", "model_version",
  "text_output"}`;
- `POST /v2/models/{model}/generate_stream`: one such object per SSE event, the new text of
  each chunk (deltas) or, with `--triton-cumulative`, the whole text so far; the stream ends
  by ending the body (no `[DONE]`, as Triton);
- errors as Triton writes them, `{"error": "message"}`: with an HTTP status before the stream
  starts, as a `data: {"error": ...}` event inside it (the `error_event` fault);
- `/health` and `/metrics` as in OpenAI mode.

The batching model, the faults and the chunk log are the OpenAI mode's (`endpoint` is
"generate" in the log). Output tokens are the same one-token words, so a client counting
them with tiktoken cl100k_base gets exactly the tokens generated.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from typing import Any

from aiohttp import web

from llm_loadtest.simulator.batching import SHUTDOWN, Sequence
from llm_loadtest.simulator.chunklog import ChunkLogEntry
from llm_loadtest.simulator.encoding import MALFORMED_EVENT
from llm_loadtest.simulator.faults import Fault, draw_fault, fault_point, request_rng
from llm_loadtest.simulator.openai_api import (
    _CLIENT_GONE,
    SSE_HEADERS,
    STATE,
    Handler,
    SimState,
    _drop_connection,
    health,
    metrics,
)
from llm_loadtest.simulator.protocol import DEFAULT_MAX_TOKENS
from llm_loadtest.simulator.words import json_body_of, pick_words, text_of

MODEL_VERSION = "1"
ERROR_EVENT = b'data: {"error":"Simulated engine error mid-stream."}\n\n'
_FAULT_ERRORS = {
    Fault.HTTP_500: (500, "Simulated internal server error."),
    Fault.HTTP_429: (429, "Simulated rate limit: too many requests."),
}


class TritonError(Exception):
    """An error answered as Triton's `{"error": "..."}` with an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return error_response(self.status, self.message)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v2", server_metadata)
    app.router.add_get("/v2/health/ready", health)
    app.router.add_get("/v2/health/live", health)
    app.router.add_post("/v2/repository/index", repository_index)
    app.router.add_get("/v2/models/{model}", model_metadata)
    app.router.add_get("/v2/models/{model}/ready", model_ready)
    app.router.add_post("/v2/models/{model}/generate", generate)
    app.router.add_post("/v2/models/{model}/generate_stream", generate_stream)
    app.middlewares.append(api_key_middleware)


@web.middleware
async def api_key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Triton has no keys, but gateways in front of it do: the same check as OpenAI mode's
    key = request.app[STATE].options.api_key
    if key is not None and request.path.startswith(("/v2/models/", "/v2/repository/")):
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            return error_response(401, "Invalid or missing API key.")
    return await handler(request)


# ---- metadata and readiness ---------------------------------------------------------------


async def server_metadata(request: web.Request) -> web.Response:
    return web.json_response({"name": "triton", "version": "2.50.0", "extensions": ["generate", "model_repository"]})


def _check_model(state: SimState, name: str) -> None:
    if name != state.options.model:
        raise TritonError(400, f"Request for unknown model: '{name}' is not found")
    if state.options.triton_not_ready:
        raise TritonError(400, f"Request for unknown model: '{name}' has no available versions")


async def model_ready(request: web.Request) -> web.Response:
    try:
        _check_model(request.app[STATE], request.match_info["model"])
    except TritonError as exc:
        return exc.response()
    return web.Response(status=200)


async def model_metadata(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = request.match_info["model"]
    if name != state.options.model:
        return error_response(400, f"Request for unknown model: '{name}' is not found")

    def tensor(tensor_name: str, datatype: str) -> dict[str, Any]:
        return {"name": tensor_name, "datatype": datatype, "shape": [-1, 1]}

    return web.json_response(
        {
            "name": name,
            "versions": [MODEL_VERSION],
            "platform": "ensemble",
            "inputs": [tensor("text_input", "BYTES"), tensor("max_tokens", "INT32"), tensor("stream", "BOOL")],
            "outputs": [tensor("text_output", "BYTES")],
        }
    )


async def repository_index(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        return error_response(400, "failed to parse the request JSON buffer")
    ready = not state.options.triton_not_ready
    if isinstance(body, dict) and body.get("ready") is True and not ready:
        return web.json_response([])
    entry: dict[str, str] = {"name": state.options.model, "version": MODEL_VERSION, "state": "READY" if ready else "UNAVAILABLE"}
    if not ready:
        entry["reason"] = "simulated: the model is loading"
    return web.json_response([entry])


# ---- generation ---------------------------------------------------------------------------


async def generate(request: web.Request) -> web.StreamResponse:
    return await _generate(request, stream=False)


async def generate_stream(request: web.Request) -> web.StreamResponse:
    return await _generate(request, stream=True)


def _max_tokens(body: dict[str, Any]) -> int:
    # a TensorRT-LLM model's input tensor; vLLM-style requests put it in `parameters`
    parameters = body.get("parameters")
    value = body.get("max_tokens")
    if value is None and isinstance(parameters, dict):
        value = parameters.get("max_tokens")
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TritonError(400, "input 'max_tokens' must be a positive integer")
    return value


async def _parse(request: web.Request, state: SimState) -> tuple[int, int]:
    """(prompt tokens, max tokens) of a generate request, or TritonError."""
    _check_model(state, request.match_info["model"])
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise TritonError(400, "failed to parse the request JSON buffer: the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise TritonError(400, "the generate request must be a JSON object")
    text = body.get("text_input")
    if not isinstance(text, str):
        raise TritonError(400, "expected a string for input 'text_input'")
    max_tokens = _max_tokens(body)
    prompt_tokens = state.tokenizer.count(text)
    limit = state.options.max_model_len
    if prompt_tokens + max_tokens > limit:
        raise TritonError(
            400, f"input length {prompt_tokens} + max_tokens {max_tokens} exceeds the model's limit of {limit} tokens"
        )
    return prompt_tokens, max_tokens


async def _generate(request: web.Request, *, stream: bool) -> web.StreamResponse:
    t_recv_ns = time.perf_counter_ns()
    state = request.app[STATE]
    options = state.options
    rng = request_rng(options.seed, next(state.arrivals))
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    entry = ChunkLogEntry(request_id=request_id, endpoint="generate", stream=stream, t_recv_ns=t_recv_ns)
    try:
        try:
            prompt_tokens, max_tokens = await _parse(request, state)
        except TritonError as exc:
            entry.status = exc.status
            return exc.response()
        entry.prompt_tokens = prompt_tokens
        fault = draw_fault(rng, options, stream)
        entry.fault = fault.value if fault is not None else None
        if fault in _FAULT_ERRORS:
            status, message = _FAULT_ERRORS[fault]
            entry.status = status
            return error_response(status, message)
        # the same draws as OpenAI mode: with a seed, the same words for the same arrival
        words = pick_words(rng, max_tokens)
        state.metrics.count_prompt(prompt_tokens)
        head = _event_head(options.model)
        if stream:
            return await _stream(request, state, prompt_tokens, max_tokens, words, fault, head, entry)
        return await _whole(request, state, prompt_tokens, max_tokens, words, entry)
    finally:
        entry.t_done_ns = time.perf_counter_ns()
        if state.chunk_log is not None:
            state.chunk_log.write(entry)


def _event_head(model: str) -> bytes:
    return b'{"model_name":' + json.dumps(model).encode() + b',"model_version":"' + MODEL_VERSION.encode() + b'","text_output":'


async def _whole(
    request: web.Request, state: SimState, prompt_tokens: int, max_tokens: int, words: list[int], entry: ChunkLogEntry
) -> web.StreamResponse:
    seq = Sequence(prompt_tokens=prompt_tokens, max_tokens=max_tokens)
    state.scheduler.submit(seq)
    try:
        received = 0
        while received < max_tokens:
            n = await seq.chunks.get()
            if n == SHUTDOWN:
                return error_response(503, "the simulator is shutting down")
            received += n
        body = {"model_name": state.options.model, "model_version": MODEL_VERSION, "text_output": text_of(words)}
        response = web.json_response(body, headers={"X-Request-Id": entry.request_id})
        await response.prepare(request)
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
    prompt_tokens: int,
    max_tokens: int,
    words: list[int],
    fault: Fault | None,
    head: bytes,
    entry: ChunkLogEntry,
) -> web.StreamResponse:
    point = fault_point(fault, max_tokens)
    stall_after = point.after_tokens if point is not None and point.fault is Fault.STALL else None
    seq = Sequence(prompt_tokens=prompt_tokens, max_tokens=max_tokens, stall_after=stall_after)
    cumulative = state.options.triton_cumulative
    response = web.StreamResponse(headers={**SSE_HEADERS, "X-Request-Id": entry.request_id})
    await response.prepare(request)
    state.scheduler.submit(seq)
    sent = 0
    try:
        while sent < max_tokens:
            if point is not None and sent >= point.after_tokens:
                if point.fault is Fault.DROP:
                    _drop_connection(request)
                    return response
                if point.fault is Fault.ERROR_EVENT:
                    # Triton: the status (200) went with the first event; the error comes in one
                    await response.write(ERROR_EVENT)
                    await response.write_eof()
                    return response
                if point.fault is Fault.MALFORMED:
                    await response.write(MALFORMED_EVENT)
                point = None
            n = await seq.chunks.get()
            if n == SHUTDOWN:
                _drop_connection(request)
                return response
            text = json_body_of(words[: sent + n] if cumulative else words[sent : sent + n])
            entry.chunk_send_ns.append(time.perf_counter_ns())
            await response.write(b"data: " + head + text + b"}\n\n")
            entry.chunk_tokens.append(n)
            sent += n
            entry.completion_tokens = sent
        await response.write_eof()
        state.metrics.count_success()
        return response
    except _CLIENT_GONE:
        entry.client_gone = True
        raise
    finally:
        entry.t_first_sched_ns = seq.t_admitted_ns
        state.scheduler.cancel(seq)
