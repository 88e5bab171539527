"""OpenAI response bodies. Stream chunks are assembled from pre-encoded bytes, so one decode
step over 256 streams costs a few byte joins each, not a json.dumps of a nested dict."""

from __future__ import annotations

import json
from typing import Any

from llm_loadtest.simulator.protocol import Endpoint
from llm_loadtest.simulator.words import json_body_of, text_of

DONE = b"data: [DONE]\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _object_name(endpoint: Endpoint, stream: bool) -> str:
    if endpoint == "chat":
        return "chat.completion.chunk" if stream else "chat.completion"
    return "text_completion"


class StreamEncoder:
    """The SSE events of one streaming response."""

    def __init__(self, endpoint: Endpoint, completion_id: str, created: int, model: str):
        self._endpoint = endpoint
        self._head = {"id": completion_id, "object": _object_name(endpoint, True), "created": created, "model": model}
        head = json.dumps(self._head, separators=(",", ":"))[:-1].encode()  # without the closing brace
        if endpoint == "chat":
            self._before = b"data: " + head + b',"choices":[{"index":0,"delta":{"content":'
            self._after = b'},"logprobs":null,"finish_reason":null}]}\n\n'
            self._after_last = b'},"logprobs":null,"finish_reason":"length"}]}\n\n'
            self._before_reasoning = b"data: " + head + b',"choices":[{"index":0,"delta":{"reasoning_content":'
            self.role_event = (
                b"data: " + head + b',"choices":[{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":null}]}\n\n'
            )
        else:
            self._before = b"data: " + head + b',"choices":[{"index":0,"text":'
            self._after = b',"logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'
            self._after_last = b',"logprobs":null,"finish_reason":"length","stop_reason":null}]}\n\n'
            self._before_reasoning = self._before  # completions have no reasoning field: it is text
            self.role_event = b""

    def content_event(self, words: list[int], last: bool, *, reasoning: bool = False) -> bytes:
        before = self._before_reasoning if reasoning else self._before
        return before + json_body_of(words) + (self._after_last if last else self._after)

    def usage_event(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        body = {**self._head, "choices": [], "usage": usage(prompt_tokens, completion_tokens)}
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def full_response(
    endpoint: Endpoint,
    completion_id: str,
    created: int,
    model: str,
    words: list[int],
    prompt_tokens: int,
    with_usage: bool,
    reasoning_tokens: int = 0,
) -> dict[str, Any]:
    text = text_of(words)
    if endpoint == "chat":
        message: dict[str, Any] = {"role": "assistant", "content": text_of(words[reasoning_tokens:])}
        if reasoning_tokens:
            message["reasoning_content"] = text_of(words[:reasoning_tokens])
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": "length",
        }
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length", "stop_reason": None}
    body: dict[str, Any] = {
        "id": completion_id,
        "object": _object_name(endpoint, False),
        "created": created,
        "model": model,
        "choices": [choice],
    }
    if with_usage:
        body["usage"] = usage(prompt_tokens, len(words))
    return body
