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

The batching model, the faults and the chunk log are the OpenAI mode's, in serving.py
(`endpoint` is "generate" in the log). Output tokens are the same one-token words, so a client counting
them with tiktoken cl100k_base gets exactly the tokens generated.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from llm_loadtest.simulator.chunklog import ChunkLogEntry
from llm_loadtest.simulator.faults import Fault
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.simulator.protocol import DEFAULT_MAX_TOKENS
from llm_loadtest.simulator.serving import (
    STATE,
    RequestError,
    SimState,
    api_key_middleware,
    handle_generation,
    health,
    metrics,
)
from llm_loadtest.simulator.words import json_body_of, text_of

MODEL_VERSION = "1"
ERROR_EVENT = b'data: {"error":"Simulated engine error mid-stream."}\n\n'


class TritonError(RequestError):
    """An error answered as Triton's `{"error": "..."}` with an HTTP status."""

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
    # Triton has no keys, but gateways in front of it do: the same check as OpenAI mode's
    unauthorized = TritonError(401, "Invalid or missing API key.")
    app.middlewares.append(api_key_middleware(("/v2/models/", "/v2/repository/"), unauthorized))


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


_FAULT_ERRORS = {
    Fault.HTTP_500: TritonError(500, "Simulated internal server error."),
    Fault.HTTP_429: TritonError(429, "Simulated rate limit: too many requests."),
}


async def generate(request: web.Request) -> web.StreamResponse:
    return await handle_generation(request, "generate", _parse, _FAULT_ERRORS, stream=False)


async def generate_stream(request: web.Request) -> web.StreamResponse:
    return await handle_generation(request, "generate", _parse, _FAULT_ERRORS, stream=True)


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


async def _parse(request: web.Request, state: SimState, entry: ChunkLogEntry) -> _Reply:
    """A generate request's reply, or TritonError."""
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
        raise TritonError(400, f"input length {prompt_tokens} + max_tokens {max_tokens} exceeds the model's limit of {limit} tokens")
    # the route chose streaming, and started the log entry with it
    return _Reply(prompt_tokens, max_tokens, entry.stream, state.options)


class _Reply:
    """How Triton's generate extension answers one request (a serving.Reply)."""

    # Triton: the status (200) went with the first event; the error comes in one
    error_event = ERROR_EVENT

    prompt_ids = None  # no prefix cache in Triton mode

    def __init__(self, prompt_tokens: int, max_tokens: int, stream: bool, options: SimOptions):
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.stream = stream
        self._model = options.model
        self._cumulative = options.triton_cumulative
        self._head = (
            b'data: {"model_name":'
            + json.dumps(options.model).encode()
            + b',"model_version":"'
            + MODEL_VERSION.encode()
            + b'","text_output":'
        )

    def content_event(self, words: list[int], start: int, end: int) -> bytes:
        text = json_body_of(words[:end] if self._cumulative else words[start:end])
        return self._head + text + b"}\n\n"

    def end_events(self, sent: int) -> tuple[bytes, ...]:
        return ()  # the stream ends by ending the body: no [DONE], as Triton

    def whole_body(self, words: list[int]) -> dict[str, Any]:
        return {"model_name": self._model, "model_version": MODEL_VERSION, "text_output": text_of(words)}

    def shutting_down(self) -> web.Response:
        return error_response(503, "the simulator is shutting down")
