"""Reading OpenAI requests: validation, prompt token counts, and OpenAI-style errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from llm_loadtest.simulator.serving import RequestError
from llm_loadtest.tokens.tokenizer import Tokenizer

Endpoint = Literal["chat", "completions"]
# OpenAI's default for the legacy completions API; used for chat too, so that a request
# that forgets max_tokens stays short.
DEFAULT_MAX_TOKENS = 16


class ApiError(RequestError):
    """An error answered as OpenAI's error JSON."""

    def __init__(self, status: int, message: str, type_: str):
        super().__init__(status, message)
        self.type = type_

    def response(self) -> web.Response:
        return error_response(self.status, self.message, self.type)


def error_response(status: int, message: str, type_: str) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": status}}
    return web.json_response(body, status=status)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequestError")


def model_not_found(model: str) -> ApiError:
    return ApiError(404, f"The model `{model}` does not exist.", "NotFoundError")


@dataclass(frozen=True, slots=True)
class GenRequest:
    endpoint: Endpoint
    model: str
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    has_stream_options: bool
    prompt_ids: list[int]  # the prompt's tokens, for the prefix cache


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def chat_prompt_text(messages: Any) -> str:
    """The messages' text contents, concatenated with nothing between them.

    No chat template is applied, so a one-message request's prompt_tokens equal the
    tokenizer's count of that message: a client can check its own count exactly.
    """
    if not isinstance(messages, list) or not messages:
        raise bad_request("`messages` must be a non-empty list")
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise bad_request("each message must be an object with a `role`")
        content = message.get("content")
        if content is None:
            continue
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    parts.append(part["text"])
        else:
            raise bad_request("message `content` must be a string or a list of parts")
    return "".join(parts)


def completion_prompt_ids(prompt: Any, tokenizer: Tokenizer) -> list[int]:
    """A string, a list of token ids, or a one-element list of either (no batched prompts)."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return tokenizer.encode(prompt)
    if isinstance(prompt, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        return prompt
    raise bad_request("`prompt` must be a string or a list of token ids (one prompt per request)")


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad_request(f"`{name}` must be a positive integer")
    return value


def parse_generation(body: dict[str, Any], endpoint: Endpoint, model: str, tokenizer: Tokenizer, max_model_len: int) -> GenRequest:
    requested_model = body.get("model", model)
    if requested_model != model:
        raise model_not_found(str(requested_model))
    if endpoint == "chat":
        prompt_ids = tokenizer.encode(chat_prompt_text(body.get("messages")))
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    else:
        if "prompt" not in body:
            raise bad_request("`prompt` is required")
        prompt_ids = completion_prompt_ids(body["prompt"], tokenizer)
        max_tokens = _positive_int(body, "max_tokens")
    max_tokens = max_tokens or DEFAULT_MAX_TOKENS
    prompt_tokens = len(prompt_ids)
    if prompt_tokens + max_tokens > max_model_len:
        raise bad_request(
            f"This model's maximum context length is {max_model_len} tokens. However, you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the prompt, {max_tokens} in the "
            "completion). Please reduce the length of the prompt or completion."
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("`stream` must be true or false")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise bad_request("`stream_options` must be an object")
    if stream_options is not None and not stream:
        raise bad_request("Stream options can only be defined when `stream=True`.")
    include_usage = bool(stream_options and stream_options.get("include_usage"))
    return GenRequest(
        endpoint=endpoint,
        model=model,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=stream,
        include_usage=include_usage,
        has_stream_options=stream_options is not None,
        prompt_ids=prompt_ids,
    )
