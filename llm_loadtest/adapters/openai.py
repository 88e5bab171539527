"""OpenAI-compatible servers: vLLM, SGLang, Ollama, LMDeploy, llama.cpp, trtllm-serve.

`/v1/chat/completions` or `/v1/completions`, streamed (SSE) or not. Token truth is the
server's `usage`; the engine counts with a tokenizer after the level when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np

from llm_loadtest.adapters.base import Prompt, ServerConfigError, ServerUnreachable
from llm_loadtest.adapters.sse import SSEReader
from llm_loadtest.engine.records import Outcome, RequestRecord, TokenSource

_ERROR_BODY_LIMIT = 300


@dataclass
class ConnectTrace:
    """Filled by aiohttp's trace hooks when this request had to open a connection."""

    start_ns: int = 0
    end_ns: int = 0


def connect_trace_config() -> aiohttp.TraceConfig:
    """Hooks that time TCP connects per request, so that connect time is recorded apart."""
    config = aiohttp.TraceConfig()

    async def on_start(session, ctx, params) -> None:
        if ctx.trace_request_ctx is not None:
            ctx.trace_request_ctx.start_ns = time.perf_counter_ns()

    async def on_end(session, ctx, params) -> None:
        if ctx.trace_request_ctx is not None:
            ctx.trace_request_ctx.end_ns = time.perf_counter_ns()

    config.on_connection_create_start.append(on_start)
    config.on_connection_create_end.append(on_end)
    return config


@dataclass
class OpenAIAdapter:
    server: str
    model: str
    endpoint: str = "chat"
    stream: bool = True
    output_len: int = 128
    api_key: str | None = field(default=None, repr=False)
    ignore_eos: bool = True
    extra_body: dict | None = None
    name: str = "openai"
    # switched off when the server rejects the field (found in preflight, or on a 400)
    send_stream_options: bool = True
    _tokenize_form: dict | None = field(default=None, repr=False)

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
            async with session.get(self.server + "/v1/models", headers=self.headers()) as resp:
                status = resp.status
                text = await resp.text()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise ServerUnreachable(f"cannot reach {self.server}: {_short(exc)}") from None
        if status in (401, 403):
            raise ServerConfigError(f"{self.server} refused the API key (HTTP {status}); set --api-key or LLM_LOADTEST_API_KEY")
        models = _model_ids(text) if status == 200 else []
        if self.model == "auto":
            if not models:
                raise ServerConfigError(f"--model auto: {self.server}/v1/models lists no model; give --model NAME")
            self.model = models[0]
        elif models and self.model not in models:
            raise ServerConfigError(f"model {self.model!r} is not served by {self.server}; it serves: {', '.join(models)}")
        await self._probe_fields(session)
        return self.model

    async def _probe_fields(self, session: aiohttp.ClientSession) -> None:
        """One tiny request; a server that rejects an optional field gets asked without it."""
        for _ in range(3):
            async with session.post(self.url, json=self.body("Hello", max_tokens=1), headers=self.headers()) as resp:
                text = await resp.text()
                if resp.status == 200:
                    return
            if resp.status == 400 and self.stream and self.send_stream_options and "stream_options" in text:
                self.send_stream_options = False
            elif resp.status == 400 and self.ignore_eos and "ignore_eos" in text:
                self.ignore_eos = False
            elif resp.status == 404:
                raise ServerConfigError(f"{self.url} answered 404: {_excerpt(text)}")
            else:
                return  # a transient failure here is the run's to measure, not ours

    async def server_token_count(self, session: aiohttp.ClientSession, text: str) -> int | None:
        """The server's own token count of `text` (vLLM/SGLang or llama.cpp `/tokenize`).

        For servers that send no usage: their count beats a local tokenizer that is not the
        model's. None when the server has no such endpoint.
        """
        forms = [self._tokenize_form] if self._tokenize_form else [{"model": self.model, "prompt": None}, {"content": None}]
        for form in forms:
            body = {key: (text if value is None else value) for key, value in form.items()}
            try:
                async with session.post(self.server + "/tokenize", json=body, headers=self.headers()) as resp:
                    data = await resp.json(content_type=None) if resp.status == 200 else None
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
                data = None
            if isinstance(data, dict):
                count = data.get("count")
                if count is None and isinstance(data.get("tokens"), list):
                    count = len(data["tokens"])
                if isinstance(count, int):
                    self._tokenize_form = form
                    return count
        return None

    # ---- one request ----------------------------------------------------------------------

    async def send(
        self,
        session: aiohttp.ClientSession,
        prompt: Prompt,
        request_id: str,
        *,
        t_scheduled_ns: int | None = None,
        timeout: float | None = None,
    ) -> RequestRecord:
        payload = json.dumps(self.body(prompt.text)).encode()
        headers = self.headers(request_id)
        trace = ConnectTrace()
        record = RequestRecord(request_id=request_id, t_start_ns=0, t_end_ns=0, t_scheduled_ns=t_scheduled_ns, stream=self.stream)
        record.t_start_ns = time.perf_counter_ns()
        try:
            async with asyncio.timeout(timeout):
                async with session.post(self.url, data=payload, headers=headers, trace_request_ctx=trace) as resp:
                    if resp.status != 200:
                        await _http_error(record, resp)
                    elif self.stream:
                        await self._read_stream(record, resp)
                    else:
                        await self._read_json(record, resp)
        except TimeoutError:
            _fail(record, Outcome.TIMEOUT, f"no complete response within {timeout:g} s")
        except asyncio.CancelledError:
            # the engine cancels in-flight requests on abort: keep them out of the failures
            _fail(record, Outcome.CANCELLED, "cancelled by the user")
        except aiohttp.ClientConnectorError as exc:
            _fail(record, Outcome.CONNECT, _short(exc))
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            _fail(record, Outcome.STREAM_BROKEN, _short(exc))
        except aiohttp.ClientError as exc:
            _fail(record, Outcome.CONNECT, _short(exc))
        if trace.end_ns:
            record.connect_ns = trace.end_ns - trace.start_ns
        if record.input_tokens is None:
            record.input_tokens = prompt.input_tokens
            record.input_token_source = TokenSource.TOKENIZER
        return record

    async def _read_stream(self, record: RequestRecord, resp: aiohttp.ClientResponse) -> None:
        sse = SSEReader()
        times: list[int] = []
        texts: list[str] = []
        reasoning = 0
        finished = False
        problem: tuple[Outcome, str] | None = None
        last_read_ns = record.t_start_ns
        chat = self.endpoint == "chat"
        # the engine's connections stamp bytes as they arrive (engine.session); others don't
        protocol = resp.connection.protocol if resp.connection is not None else None
        stamped = hasattr(protocol, "arrival_ns")
        async for data in resp.content.iter_any():
            last_read_ns = protocol.arrival_ns if stamped else time.perf_counter_ns()
            for payload in sse.feed(data):
                if payload == "[DONE]":
                    finished = True
                    continue
                try:
                    event = json.loads(payload)
                except ValueError:
                    problem = problem or (Outcome.MALFORMED, f"not JSON in stream: {_excerpt(payload)}")
                    continue
                if not isinstance(event, dict):
                    problem = problem or (Outcome.MALFORMED, f"unexpected event: {_excerpt(payload)}")
                    continue
                if "error" in event:
                    problem = problem or (Outcome.STREAM_BROKEN, f"server error in stream: {_excerpt(json.dumps(event['error']))}")
                    continue
                usage = event.get("usage")
                if usage:
                    _take_usage(record, usage)
                choices = event.get("choices")
                if not choices:
                    continue
                choice = choices[0]
                if chat:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if not text:
                        text = delta.get("reasoning_content") or delta.get("reasoning")
                        if text:
                            reasoning += 1
                else:
                    text = choice.get("text")
                if text:
                    times.append(last_read_ns)
                    texts.append(text)
                if choice.get("finish_reason"):
                    finished = True
        for payload in sse.close():
            if payload == "[DONE]":
                finished = True
        record.t_end_ns = last_read_ns
        record.chunk_times_ns = np.array(times, dtype=np.int64)
        record.chunk_texts = texts
        record.reasoning_chunks = reasoning
        if problem:
            _fail(record, *problem, keep_time=True)
        elif not finished:
            _fail(record, Outcome.STREAM_BROKEN, "stream ended before [DONE] or a finish reason", keep_time=True)

    async def _read_json(self, record: RequestRecord, resp: aiohttp.ClientResponse) -> None:
        protocol = resp.connection.protocol if resp.connection is not None else None
        raw = await resp.read()
        record.t_end_ns = getattr(protocol, "arrival_ns", 0) or time.perf_counter_ns()
        try:
            body = json.loads(raw)
            choice = body["choices"][0]
            text = choice["message"].get("content") if self.endpoint == "chat" else choice.get("text")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            _fail(record, Outcome.MALFORMED, f"unexpected response: {_excerpt(raw.decode(errors='replace'))}", keep_time=True)
            return
        if body.get("usage"):
            _take_usage(record, body["usage"])
        record.chunk_texts = [text or ""]


def _take_usage(record: RequestRecord, usage: dict) -> None:
    if usage.get("completion_tokens") is not None:
        record.output_tokens = int(usage["completion_tokens"])
        record.output_token_source = TokenSource.SERVER
    if usage.get("prompt_tokens") is not None:
        record.input_tokens = int(usage["prompt_tokens"])
        record.input_token_source = TokenSource.SERVER


async def _http_error(record: RequestRecord, resp: aiohttp.ClientResponse) -> None:
    text = await resp.text(errors="replace")
    record.t_end_ns = time.perf_counter_ns()
    record.http_status = resp.status
    outcome = Outcome.HTTP_4XX if resp.status < 500 else Outcome.HTTP_5XX
    _fail(record, outcome, f"HTTP {resp.status}: {_excerpt(_error_message(text))}", keep_time=True)


def _fail(record: RequestRecord, outcome: Outcome, message: str, *, keep_time: bool = False) -> None:
    record.outcome = outcome
    record.error = message
    if not keep_time or not record.t_end_ns:
        record.t_end_ns = time.perf_counter_ns()


def _error_message(text: str) -> str:
    try:
        error = json.loads(text).get("error", text)
    except (ValueError, AttributeError):
        return text
    return error.get("message", str(error)) if isinstance(error, dict) else str(error)


def _model_ids(text: str) -> list[str]:
    try:
        return [str(item["id"]) for item in json.loads(text).get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        return []


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_BODY_LIMIT else text[:_ERROR_BODY_LIMIT] + "..."


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
