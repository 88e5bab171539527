"""The tokenize endpoints of the OpenAI-compatible servers we name, one at a time (`--tokenize`),
so that a client's search for the server's own token count meets each over real HTTP.

- vllm: `POST /tokenize {"model"?, "prompt" | "messages"}` -> `{"count", "tokens", ...}` (SGLang's too)
- llama-server: `POST /tokenize {"content"}` -> `{"tokens"}`; as llama.cpp's, a body without
  `content` gets `{"tokens": []}`
- llama-cpp-python: `POST /extras/tokenize {"input"}` -> `{"tokens"}` and
  `POST /extras/tokenize/count {"input"}` -> `{"count"}`, with a BOS token added, as it does
- lmdeploy: `POST /v1/encode {"input", "add_bos"?}` -> `{"input_ids", "length"}`
- none: no tokenize endpoint (Ollama)
"""

from __future__ import annotations

from aiohttp import web

from llm_loadtest.simulator.protocol import ApiError, bad_request, chat_prompt_text, model_not_found, read_json
from llm_loadtest.simulator.serving import STATE

BOS = 1  # the token id a llama-cpp-python server puts first


def add_tokenize_routes(app: web.Application, form: str) -> None:
    if form == "vllm":
        app.router.add_post("/tokenize", vllm_tokenize)
    elif form == "llama-server":
        app.router.add_post("/tokenize", llama_server_tokenize)
    elif form == "llama-cpp-python":
        app.router.add_post("/extras/tokenize", llama_cpp_python_tokenize)
        app.router.add_post("/extras/tokenize/count", llama_cpp_python_count)
    elif form == "lmdeploy":
        app.router.add_post("/v1/encode", lmdeploy_encode)


async def vllm_tokenize(request: web.Request) -> web.Response:
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
    return web.json_response({"count": len(tokens), "max_model_len": state.options.max_model_len, "tokens": tokens, "token_strs": None})


async def llama_server_tokenize(request: web.Request) -> web.Response:
    body = await _body(request)
    content = body.get("content") if body is not None else None
    tokens = request.app[STATE].tokenizer.encode(content) if isinstance(content, str) else []
    return web.json_response({"tokens": tokens})


async def llama_cpp_python_tokenize(request: web.Request) -> web.Response:
    tokens = await _llama_cpp_python_tokens(request)
    return tokens if isinstance(tokens, web.Response) else web.json_response({"tokens": tokens})


async def llama_cpp_python_count(request: web.Request) -> web.Response:
    tokens = await _llama_cpp_python_tokens(request)
    return tokens if isinstance(tokens, web.Response) else web.json_response({"count": len(tokens)})


async def _llama_cpp_python_tokens(request: web.Request) -> list[int] | web.Response:
    body = await _body(request)
    if body is None or not isinstance(body.get("input"), str):
        # FastAPI's validation error
        return web.json_response({"detail": [{"type": "missing", "loc": ["body", "input"], "msg": "Field required"}]}, status=422)
    return [BOS, *request.app[STATE].tokenizer.encode(body["input"])]


async def lmdeploy_encode(request: web.Request) -> web.Response:
    body = await _body(request)
    if body is None or not isinstance(body.get("input"), str):
        return web.json_response({"detail": [{"type": "missing", "loc": ["body", "input"], "msg": "Field required"}]}, status=422)
    tokens = request.app[STATE].tokenizer.encode(body["input"])
    if body.get("add_bos", True):
        tokens = [BOS, *tokens]
    return web.json_response({"input_ids": tokens, "length": len(tokens)})


async def _body(request: web.Request) -> dict | None:
    try:
        return await read_json(request)
    except ApiError:
        return None
