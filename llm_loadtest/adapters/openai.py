"""OpenAI-compatible servers: vLLM, SGLang, Ollama, LMDeploy, llama.cpp, trtllm-serve.

`/v1/chat/completions` or `/v1/completions`, streamed (SSE) or not. Token truth is the
server's `usage`; without it, the server's own tokenize endpoint (adapters.tokenize), then a
local tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

import aiohttp
import orjson

from llm_loadtest.adapters.exchange import Chunks, Problem, Response, excerpt, http_error, read_body
from llm_loadtest.adapters.http import HttpAdapter
from llm_loadtest.adapters.sse import SSEReader
from llm_loadtest.adapters.tokenize import ServerTokenizer
from llm_loadtest.model.errors import ServerConfigError, ServerUnreachable
from llm_loadtest.model.records import Outcome, Prompt, RequestRecord, TokenSource


@dataclass
class OpenAIAdapter(HttpAdapter):
    label: ClassVar[str] = "OpenAI-compatible (vLLM, SGLang, Ollama, …)"
    endpoints: ClassVar[tuple[str, ...]] = ("chat", "completions")

    # switched off by the preflight when the server rejects the field
    send_stream_options: bool = True
    _tokenizer: ServerTokenizer = field(default_factory=ServerTokenizer, repr=False)

    @property
    def warm_url(self) -> str:
        return self.server + "/v1/models"

    @property
    def url(self) -> str:
        path = "/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions"
        return self.server + path

    def request_body(self, prompt: Prompt, max_tokens: int | None = None) -> dict:
        return self.body(prompt.text, max_tokens or prompt.output_len, messages=prompt.messages)

    def body(self, prompt_text: str, max_tokens: int | None = None, messages: tuple[dict, ...] | None = None) -> dict:
        body: dict = {"model": self.model, "max_tokens": max_tokens or self.output_len, "stream": self.stream}
        if self.endpoint == "chat":
            body["messages"] = list(messages) if messages else [{"role": "user", "content": prompt_text}]
        else:
            body["prompt"] = prompt_text
        if self.stream and self.send_stream_options:
            body["stream_options"] = {"include_usage": True}
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.extra_body:
            body.update(self.extra_body)
        return body

    # ---- the server ---------------------------------------------------------------------

    async def check_ready(self, session: aiohttp.ClientSession) -> None:
        status, text = await self.get(session, "/v1/models")
        self._check_key(status)
        if status != 200:
            raise ServerUnreachable(f"{self.server} is not ready: GET /v1/models answered {http_error(status, text)}")

    async def list_models(self, session: aiohttp.ClientSession) -> list[str]:
        models, _ = await self.models_listed(session)
        return models

    async def models_listed(self, session: aiohttp.ClientSession) -> tuple[list[str], str]:
        """The models /v1/models lists and, when none, what it answered instead (a server
        without the route answers 404)."""
        status, text = await self.get(session, "/v1/models")
        self._check_key(status)
        if status != 200:
            return [], f"GET {self.server}/v1/models answered {http_error(status, text)}"
        models = model_ids(text)
        return models, "" if models else f"GET {self.server}/v1/models lists no model"

    def _check_key(self, status: int) -> None:
        if status in (401, 403):
            raise ServerConfigError(f"{self.server} refused the API key (HTTP {status}); set --api-key or LLM_LOADTEST_API_KEY")

    # ---- before the run -------------------------------------------------------------------

    async def preflight(self, session: aiohttp.ClientSession, request_id: str) -> str:
        models, why_none = await self.models_listed(session)
        if self.model == "auto":
            if not models:
                raise ServerConfigError(f"--model auto: {why_none}; pass --model NAME explicitly")
            self.model = models[0]
        elif models and self.model not in models:
            raise ServerConfigError(f"model {self.model!r} is not served by {self.server}; it serves: {', '.join(models)}")
        await self._first_request(session, request_id)
        return self.model

    async def _first_request(self, session: aiohttp.ClientSession, request_id: str) -> None:
        """A request like the run's; a server that rejects an optional field gets asked without it."""
        for _ in range(3):
            record = await self.first_request(session, request_id, run_length=True)
            error = record.error or ""
            if record.http_status == 400 and self.stream and self.send_stream_options and "stream_options" in error:
                self.send_stream_options = False
            elif record.http_status == 400 and self.ignore_eos and "ignore_eos" in error:
                self.ignore_eos = False
            else:
                break
        self.stop_if_refused(record)

    # ---- after a level --------------------------------------------------------------------

    async def server_token_count(self, session: aiohttp.ClientSession, text: str) -> int | None:
        """The server's own token count of `text`, for servers that send no usage: their count
        beats a local tokenizer that is not the model's. None when it has no endpoint we know."""

        async def post(path: str, body: dict) -> tuple[int, str]:
            return await self.post(session, path, body)

        return await self._tokenizer.count(post, text, self.model)

    @property
    def tokenize_endpoint(self) -> str | None:
        """Which tokenize endpoint answered (adapters.tokenize), once one has."""
        form = self._tokenizer.form
        return form.description if form is not None else None

    # ---- one request ----------------------------------------------------------------------

    async def read_stream(self, record: RequestRecord, resp: Response, chunks: Chunks, clock, prompt_text: str) -> None:
        stream = EventStream(record, chunks, chat=self.endpoint == "chat")
        await read_body(resp, stream.feed, clock)
        stream.close()

    async def read_whole(self, record: RequestRecord, resp: Response, chunks: Chunks, clock, prompt_text: str) -> None:
        raw = await resp.read()
        record.t_end_ns = clock()
        try:
            body = json.loads(raw)
            choice = body["choices"][0]
            text = choice["message"].get("content") if self.endpoint == "chat" else choice.get("text")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise Problem(Outcome.MALFORMED, f"unexpected response: {excerpt(raw.decode(errors='replace'))}") from None
        if body.get("usage"):
            _take_usage(record, body["usage"])
        chunks.texts.append(text or "")  # text only: a whole response has no chunk times


class EventStream:
    """One streamed response's decoder: fed each read with its arrival time as it arrives
    (adapters.exchange.read_body), it adds each event's content to `chunks` and its usage to
    the record."""

    __slots__ = ("_chat", "_chunks", "_finished", "_last_read_ns", "_problem", "_record", "_sse")

    def __init__(self, record: RequestRecord, chunks: Chunks, *, chat: bool):
        self._record = record
        self._chunks = chunks
        self._chat = chat
        self._sse = SSEReader()
        self._finished = False
        self._problem: Problem | None = None
        self._last_read_ns = record.t_start_ns

    def feed(self, data: bytes, t_ns: int) -> None:
        self._last_read_ns = t_ns
        for payload in self._sse.feed(data):
            if payload == "[DONE]":
                self._finished = True
                continue
            try:
                self._finished |= _take_event(self._record, payload, self._chunks, t_ns, self._chat)
            except Problem as exc:
                self._problem = self._problem or exc  # read on: the connection stays usable

    def close(self) -> None:
        """The body ended: the record ends at its last read; raises the stream's first problem."""
        self._finished |= "[DONE]" in self._sse.close()
        self._record.t_end_ns = self._last_read_ns
        if self._problem:
            raise self._problem
        if not self._finished:
            raise Problem(Outcome.STREAM_BROKEN, "stream ended before [DONE] or a finish reason")


def _take_event(record: RequestRecord, payload: str, chunks: Chunks, t_ns: int, chat: bool) -> bool:
    """One event's content and usage; True when it finishes the response."""
    try:
        event = orjson.loads(payload)
    except ValueError:
        raise Problem(Outcome.MALFORMED, f"not JSON in stream: {excerpt(payload)}") from None
    if not isinstance(event, dict):
        raise Problem(Outcome.MALFORMED, f"unexpected event: {excerpt(payload)}")
    if "error" in event:
        raise Problem(Outcome.STREAM_BROKEN, f"server error in stream: {excerpt(json.dumps(event['error']))}")
    if event.get("usage"):
        _take_usage(record, event["usage"])
    choices = event.get("choices")
    if not choices:
        return False
    choice = choices[0]
    if chat:
        delta = choice.get("delta") or {}
        text = delta.get("content")
        reasoning = not text
        if reasoning:
            text = delta.get("reasoning_content") or delta.get("reasoning")
    else:
        text, reasoning = choice.get("text"), False
    if text:
        if not isinstance(text, str):
            raise Problem(Outcome.MALFORMED, f"content is not text: {excerpt(payload)}")
        chunks.add(t_ns, text, reasoning=reasoning)
    return bool(choice.get("finish_reason"))


def _take_usage(record: RequestRecord, usage: dict) -> None:
    if usage.get("completion_tokens") is not None:
        record.output_tokens = int(usage["completion_tokens"])
        record.output_token_source = TokenSource.SERVER
    if usage.get("prompt_tokens") is not None:
        record.input_tokens = int(usage["prompt_tokens"])
        record.input_token_source = TokenSource.SERVER


def model_ids(text: str) -> list[str]:
    """OpenAI's `{"data": [{"id": ...}]}`; Ollama's native `{"models": [{"name": ...}]}` too."""
    try:
        payload = json.loads(text)
    except ValueError:
        return []
    items = payload.get("data", payload.get("models")) if isinstance(payload, dict) else None
    names = []
    for item in items if isinstance(items, list) else []:
        name = (item.get("id") or item.get("name")) if isinstance(item, dict) else None
        if name:
            names.append(str(name))
    return names
