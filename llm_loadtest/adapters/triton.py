"""Triton Inference Server's HTTP generate extension (TensorRT-LLM, vLLM and Python backends).

`POST {server}/v2/models/{model}/generate_stream` (server-sent events, one JSON object with
`text_output` per event) or `POST .../generate` (one JSON object). Triton sends no usage, so
output tokens are counted by the tokenizer after the level (the adapter keeps the new text
of each chunk) and input tokens are the tokenizer's count of the prompt.

Some backends stream deltas, others the cumulative text so far (TensorRT-LLM's
postprocessing with `accumulate_tokens`, older vLLM backends): `StreamText` tells them apart
per stream and keeps only the new part of each event. See docs/adapters.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

import aiohttp
import orjson

from llm_loadtest.adapters.exchange import Chunks, Problem, Response, error_message, excerpt, read_body
from llm_loadtest.adapters.http import HttpAdapter
from llm_loadtest.adapters.sse import SSEReader
from llm_loadtest.model.errors import ServerConfigError, ServerUnreachable
from llm_loadtest.model.records import Outcome, RequestRecord


class ModelNotReady(ServerUnreachable):
    """The server answers but the model cannot serve yet: the run cannot start (exit code 3)."""


# Two events that each extend the one before settle a stream as cumulative (see StreamText).
_GROWTHS_FOR_CUMULATIVE = 2


class StreamText:
    """Arrival times and the NEW text of each content event of one stream.

    Deltas or cumulative text? A cumulative stream's every event starts with the event before
    it and is longer. Once two events in a row have extended the one before, the stream is
    cumulative; the first event that does not start with the one before makes it a delta
    stream. Until then the raw texts are kept (a few short strings) and converted when the
    stream settles, so the decision never changes a chunk's timestamp. A stream that ends
    undecided is cumulative when one event extended the one before, else deltas.

    Edge case: a delta stream of exactly two events whose second text begins with the first
    (" I", " In") reads as cumulative, and its second chunk counts as "n"; three or more
    deltas each starting with the one before are needed to fool it otherwise.

    A first event that starts with the prompt (backends asked not to exclude the input from
    the output) has the prompt cut off.
    """

    __slots__ = ("_growths", "_prev", "_prompt", "mode", "texts", "times")

    def __init__(self, prompt: str = ""):
        self.times: list[int] = []
        self.texts: list[str] = []  # new text per content event; raw texts while undecided
        self.mode: str | None = None  # None (undecided), "delta" or "cumulative"
        self._prev: str | None = None  # the last non-empty text_output as received
        self._growths = 0
        self._prompt = prompt

    def add(self, text: str, t_ns: int) -> None:
        if not text:
            return
        prev, self._prev = self._prev, text
        if prev is None or self.mode == "delta":
            self.times.append(t_ns)
            self.texts.append(text)
            return
        if self.mode == "cumulative":
            new = text[len(prev) :]
            if new:
                self.times.append(t_ns)
                self.texts.append(new)
            return
        if len(text) > len(prev) and text.startswith(prev):
            self._growths += 1
        elif text != prev:
            self.mode = "delta"
        self.times.append(t_ns)
        self.texts.append(text)
        if self.mode is None and self._growths >= _GROWTHS_FOR_CUMULATIVE:
            self._settle_cumulative()

    def finish(self) -> None:
        """Settle an undecided stream and cut a prompt echoed at the start of the output."""
        if self.mode is None:
            if self._growths:
                self._settle_cumulative()
            else:
                self.mode = "delta"
        if self._prompt and self.texts and self.texts[0].startswith(self._prompt):
            self.texts[0] = self.texts[0][len(self._prompt) :]
            if not self.texts[0]:
                del self.texts[0], self.times[0]

    def _settle_cumulative(self) -> None:
        self.mode = "cumulative"
        times, texts = [], []
        before = ""
        for t_ns, raw in zip(self.times, self.texts):
            new = raw[len(before) :]
            before = raw
            if new:
                times.append(t_ns)
                texts.append(new)
        self.times, self.texts = times, texts


@dataclass
class TritonAdapter(HttpAdapter):
    label: ClassVar[str] = "Triton Inference Server (generate extension)"
    # Triton's generate path is the model's own: the config's endpoint is not used
    endpoints: ClassVar[tuple[str, ...]] = ()
    # Triton has no common "ignore EOS" input: TensorRT-LLM models stop at `end_id`, vLLM
    # models read `ignore_eos` from their sampling parameters. Pass them with --extra-body.

    @property
    def warm_url(self) -> str:
        return self.server + "/v2/health/ready"

    @property
    def model_path(self) -> str:
        return f"/v2/models/{quote(self.model, safe='')}"

    @property
    def url(self) -> str:
        return self.server + self.model_path + ("/generate_stream" if self.stream else "/generate")

    def body(self, prompt_text: str, max_tokens: int | None = None) -> dict:
        # `max_tokens` and `stream` are inputs of TensorRT-LLM's ensemble / tensorrt_llm_bls
        # models; Triton passes other top-level keys as inputs or request parameters.
        body: dict = {"text_input": prompt_text, "max_tokens": max_tokens or self.output_len, "stream": self.stream}
        if self.extra_body:
            body.update(self.extra_body)
        return body

    # ---- the server ---------------------------------------------------------------------

    async def check_ready(self, session: aiohttp.ClientSession) -> None:
        status, text = await self.get(session, "/v2/health/ready")
        if status != 200:
            raise ServerUnreachable(f"{self.server} is not ready: GET /v2/health/ready answered HTTP {status}{_detail(text)}")

    async def list_models(self, session: aiohttp.ClientSession) -> list[str]:
        """The models ready to serve, from the repository index."""
        return [entry["name"] for entry in await self._index(session) if entry.get("state") == "READY"]

    async def models_listed(self, session: aiohttp.ClientSession) -> tuple[list[str], str]:
        models = await self.list_models(session)
        return models, "" if models else f"{self.server} lists no ready model in /v2/repository/index"

    # ---- before the run -------------------------------------------------------------------

    async def preflight(self, session: aiohttp.ClientSession, request_id: str) -> str:
        await self.check_ready(session)
        if self.model == "auto":
            ready, why_none = await self.models_listed(session)
            if not ready:
                raise ServerConfigError(f"--model auto: {why_none}; pass --model NAME explicitly")
            self.model = ready[0]
        await self._check_model(session)
        self.stop_if_refused(await self.first_request(session, request_id))
        return self.model

    async def _check_model(self, session: aiohttp.ClientSession) -> None:
        status, text = await self.get(session, self.model_path + "/ready")
        if status == 200:
            return
        if status in (401, 403):
            raise ServerConfigError(f"{self.server} refused the request (HTTP {status}); set --api-key if a gateway needs one")
        names = [entry["name"] for entry in await self._index(session)]
        if names and self.model not in names:
            raise ServerConfigError(f"model {self.model!r} is not served by {self.server}; it serves: {', '.join(names)}")
        raise ModelNotReady(f"model {self.model!r} is not ready on {self.server} (HTTP {status}{_detail(text)})")

    async def _index(self, session: aiohttp.ClientSession) -> list[dict]:
        """The model repository index; [] when the server does not offer it (ServerUnreachable
        when nothing answers)."""
        status, text = await self.post(session, "/v2/repository/index", {})
        try:
            entries = json.loads(text) if status == 200 else []
        except ValueError:
            return []
        if not isinstance(entries, list):
            return []
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]

    # ---- one request ----------------------------------------------------------------------
    # Triton reports no token counts: the prompt's are the tokenizer's (HttpAdapter.send), the
    # output's are counted from the chunk texts after the level.

    async def read_stream(self, record: RequestRecord, resp: Response, chunks: Chunks, clock, prompt_text: str) -> None:
        stream = EventStream(chunks, prompt_text, record.t_start_ns)
        try:
            await read_body(resp, stream.feed, clock)
            stream.flush()
        finally:
            stream.finish()  # what arrived is kept even when the stream breaks
        # The stream's clean end is the end of the body: Triton sends no [DONE]; a cut
        # connection raises ClientPayloadError instead.
        record.t_end_ns = stream.last_read_ns
        if stream.problem:
            raise stream.problem

    async def read_whole(self, record: RequestRecord, resp: Response, chunks: Chunks, clock, prompt_text: str) -> None:
        raw = await resp.read()
        record.t_end_ns = clock()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            raise Problem(Outcome.HTTP_5XX, f"server error with HTTP 200: {excerpt(str(body['error']))}")
        output = body.get("text_output") if isinstance(body, dict) else None
        if not isinstance(output, str):
            raise Problem(Outcome.MALFORMED, f"no text_output in the response: {excerpt(raw.decode(errors='replace'))}")
        if prompt_text and output.startswith(prompt_text):
            output = output[len(prompt_text) :]
        chunks.texts.append(output)


class EventStream:
    """One streamed response's decoder: fed each read with its arrival time as it arrives
    (adapters.exchange.read_body), it keeps the new text of each event (StreamText) and the
    stream's first problem."""

    __slots__ = ("_chunks", "_sse", "_text", "last_read_ns", "problem")

    def __init__(self, chunks: Chunks, prompt_text: str, t_start_ns: int):
        self._chunks = chunks
        self._sse = SSEReader()
        self._text = StreamText(prompt_text)
        self.problem: Problem | None = None
        self.last_read_ns = t_start_ns

    def feed(self, data: bytes, t_ns: int) -> None:
        self.last_read_ns = t_ns
        for payload in self._sse.feed(data):
            self.problem = self.problem or _take_event(payload, self._text, t_ns)
        self._chunks.times = self._text.times  # the progress display follows the stream (settling may swap the list)

    def flush(self) -> None:
        """The body ended: the events it left without a final blank line."""
        for payload in self._sse.close():
            self.problem = self.problem or _take_event(payload, self._text, self.last_read_ns)

    def finish(self) -> None:
        """Settle the stream's text into `chunks`, however it ended."""
        self._text.finish()
        self._chunks.times, self._chunks.texts = self._text.times, self._text.texts


def _take_event(payload: str, text: StreamText, t_ns: int) -> Problem | None:
    """Add one event's text; returns the problem it reports, if any."""
    try:
        event = orjson.loads(payload)
    except ValueError:
        return Problem(Outcome.MALFORMED, f"not JSON in stream: {excerpt(payload)}")
    if not isinstance(event, dict):
        return Problem(Outcome.MALFORMED, f"unexpected event: {excerpt(payload)}")
    if "error" in event:
        error = event["error"]
        message = error if isinstance(error, str) else json.dumps(error)
        return Problem(Outcome.STREAM_BROKEN, f"server error in stream: {excerpt(message)}")
    output = event.get("text_output")
    if isinstance(output, str):
        text.add(output, t_ns)
    elif output is not None:
        return Problem(Outcome.MALFORMED, f"text_output is not text: {excerpt(payload)}")
    return None


def _detail(text: str) -> str:
    message = error_message(text).strip()
    return f": {excerpt(message)}" if message else ""
