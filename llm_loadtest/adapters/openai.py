"""OpenAI-compatible servers: vLLM, SGLang, Ollama, LMDeploy, llama.cpp, trtllm-serve.

`/v1/chat/completions` or `/v1/completions`, streamed (SSE) or not. Token truth is the
server's `usage`; without it, the server's own `/tokenize`, then a local tokenizer.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp

from llm_loadtest.adapters.exchange import SIDE_REQUEST_TIMEOUT_S, Chunks, HttpAdapter, Problem, excerpt, short
from llm_loadtest.adapters.sse import SSEReader
from llm_loadtest.model.errors import ServerConfigError, ServerUnreachable
from llm_loadtest.model.records import Outcome, RequestRecord, TokenSource

# the forms of a tokenize endpoint we know: (path, body with None where the text goes)
_TOKENIZE_FORMS = (
    ("/tokenize", {"prompt": None, "add_special_tokens": False}),  # vLLM, SGLang (model added)
    ("/tokenize", {"content": None}),  # llama.cpp
    ("/extras/tokenize", {"text": None}),  # older servers
)


@dataclass
class OpenAIAdapter(HttpAdapter):
    server: str
    model: str
    endpoint: str = "chat"
    stream: bool = True
    output_len: int = 128
    api_key: str | None = field(default=None, repr=False)
    ignore_eos: bool = True
    extra_body: dict | None = None
    name: str = "openai"
    # switched off by the preflight probe when the server rejects the field
    send_stream_options: bool = True
    _tokenize_form: tuple[str, dict] | None = field(default=None, repr=False)

    @property
    def warm_url(self) -> str:
        return self.server + "/v1/models"

    @property
    def url(self) -> str:
        path = "/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions"
        return self.server + path

    def headers(self, request_id: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if request_id:
            headers["X-Request-Id"] = request_id
        return headers

    def body(self, prompt_text: str, max_tokens: int | None = None) -> dict:
        body: dict = {"model": self.model, "max_tokens": max_tokens or self.output_len, "stream": self.stream}
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt_text}]
        else:
            body["prompt"] = prompt_text
        if self.stream and self.send_stream_options:
            body["stream_options"] = {"include_usage": True}
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.extra_body:
            body.update(self.extra_body)
        return body

    # ---- before the run -------------------------------------------------------------------

    async def preflight(self, session: aiohttp.ClientSession) -> str:
        try:
            async with asyncio.timeout(SIDE_REQUEST_TIMEOUT_S):
                status, text = await self._models(session)
                self._check_model(status, text)
                await self._probe_fields(session)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ServerUnreachable(f"cannot reach {self.server}: {short(exc)}") from None
        return self.model

    async def _models(self, session: aiohttp.ClientSession) -> tuple[int, str]:
        async with session.get(self.server + "/v1/models", headers=self.headers()) as resp:
            return resp.status, await resp.text(errors="replace")

    def _check_model(self, status: int, text: str) -> None:
        if status in (401, 403):
            raise ServerConfigError(f"{self.server} refused the API key (HTTP {status}); set --api-key or LLM_LOADTEST_API_KEY")
        models = _model_ids(text) if status == 200 else []
        if self.model == "auto":
            if not models:
                raise ServerConfigError(f"--model auto: {self.server}/v1/models lists no model; give --model NAME")
            self.model = models[0]
        elif models and self.model not in models:
            raise ServerConfigError(f"model {self.model!r} is not served by {self.server}; it serves: {', '.join(models)}")

    async def _probe_fields(self, session: aiohttp.ClientSession) -> None:
        """One tiny request; a server that rejects an optional field gets asked without it."""
        for _ in range(3):
            async with session.post(self.url, json=self.body("Hello", max_tokens=1), headers=self.headers()) as resp:
                status, text = resp.status, await resp.text(errors="replace")
            if status == 200:
                return
            if status == 400 and self.stream and self.send_stream_options and "stream_options" in text:
                self.send_stream_options = False
            elif status == 400 and self.ignore_eos and "ignore_eos" in text:
                self.ignore_eos = False
            elif status in (401, 403):
                raise ServerConfigError(f"{self.url} refused the API key (HTTP {status}); set --api-key or LLM_LOADTEST_API_KEY")
            elif status == 404:
                raise ServerConfigError(f"{self.url} answered 404: {excerpt(text)}")
            else:
                return  # a transient failure here is the run's to measure, not ours

    # ---- after a level --------------------------------------------------------------------

    async def server_token_count(self, session: aiohttp.ClientSession, text: str) -> int | None:
        """The server's own token count of `text`, for servers that send no usage: their count
        beats a local tokenizer that is not the model's. None when the server has no such endpoint."""
        forms = [self._tokenize_form] if self._tokenize_form else _TOKENIZE_FORMS
        for path, form in forms:
            body = {key: (text if value is None else value) for key, value in form.items()}
            if "prompt" in body:
                body["model"] = self.model
            try:
                async with asyncio.timeout(SIDE_REQUEST_TIMEOUT_S):
                    async with session.post(self.server + path, json=body, headers=self.headers()) as resp:
                        data = await resp.json(content_type=None) if resp.status == 200 else None
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                data = None
            count = _token_count(data)
            if count is not None:
                self._tokenize_form = (path, form)
                return count
        return None

    # ---- one request ----------------------------------------------------------------------

    async def read_stream(self, record: RequestRecord, resp: aiohttp.ClientResponse, chunks: Chunks, clock, prompt_text: str) -> None:
        sse = SSEReader()
        finished = False
        problem: Problem | None = None
        last_read_ns = record.t_start_ns
        chat = self.endpoint == "chat"
        async for data in resp.content.iter_any():
            last_read_ns = clock()
            for payload in sse.feed(data):
                if payload == "[DONE]":
                    finished = True
                    continue
                try:
                    finished |= self._take_event(record, payload, chunks, last_read_ns, chat)
                except Problem as exc:
                    problem = problem or exc  # read on: the connection stays usable
        finished |= "[DONE]" in sse.close()
        record.t_end_ns = last_read_ns
        if problem:
            raise problem
        if not finished:
            raise Problem(Outcome.STREAM_BROKEN, "stream ended before [DONE] or a finish reason")

    @staticmethod
    def _take_event(record: RequestRecord, payload: str, chunks: Chunks, t_ns: int, chat: bool) -> bool:
        """One event's content and usage; True when it finishes the response."""
        try:
            event = json.loads(payload)
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

    async def read_whole(self, record: RequestRecord, resp: aiohttp.ClientResponse, chunks: Chunks, clock, prompt_text: str) -> None:
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


def _take_usage(record: RequestRecord, usage: dict) -> None:
    if usage.get("completion_tokens") is not None:
        record.output_tokens = int(usage["completion_tokens"])
        record.output_token_source = TokenSource.SERVER
    if usage.get("prompt_tokens") is not None:
        record.input_tokens = int(usage["prompt_tokens"])
        record.input_token_source = TokenSource.SERVER


def _token_count(data) -> int | None:
    if not isinstance(data, dict):
        return None
    count = data.get("count")
    if count is None and isinstance(data.get("tokens"), list):
        count = len(data["tokens"])
    return count if isinstance(count, int) else None


def _model_ids(text: str) -> list[str]:
    try:
        return [str(item["id"]) for item in json.loads(text).get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        return []
