"""What every JSON-over-HTTP adapter shares: its settings, headers, one request and its record,
the side requests made before a run, and the first request that stands for the run's.

A subclass gives its class facts (`label`, `endpoints`) and the abstract methods below.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import aiohttp

from llm_loadtest.adapters.exchange import SIDE_REQUEST_TIMEOUT_S, Chunks, Response, cannot_connect, exchange, short
from llm_loadtest.model.errors import ServerConfigError, ServerUnreachable
from llm_loadtest.model.records import Outcome, Prompt, RequestRecord, TokenSource
from llm_loadtest.model.redact import REDACTED

Clock = Callable[[], int]
# the preflight's prompt: one short line (see first_request for the tokens it asks)
PREFLIGHT_PROMPT = Prompt("Hello", 1)
# 4xx statuses that say "not now" rather than "never": the run measures them
_TRANSIENT_REFUSALS = (408, 429)


@dataclass
class HttpAdapter(ABC):
    label: ClassVar[str]
    # the config endpoints the adapter offers (the first is the default); () when it has its own path
    endpoints: ClassVar[tuple[str, ...]] = ()

    server: str
    model: str
    endpoint: str = "chat"
    stream: bool = True
    output_len: int = 128
    api_key: str | None = field(default=None, repr=False)
    ignore_eos: bool = True
    extra_body: dict | None = None

    # ---- what each adapter gives -------------------------------------------------------------

    @property
    @abstractmethod
    def url(self) -> str:
        """Where a measured request goes."""

    @property
    @abstractmethod
    def warm_url(self) -> str:
        """A cheap GET that opens keep-alive connections before a level."""

    @abstractmethod
    def body(self, prompt_text: str, max_tokens: int | None = None) -> dict: ...

    @abstractmethod
    async def read_stream(self, record: RequestRecord, resp: Response, chunks: Chunks, clock: Clock, prompt_text: str) -> None:
        """Read a streamed response into `chunks`; raise exchange.Problem for one it cannot accept."""

    @abstractmethod
    async def read_whole(self, record: RequestRecord, resp: Response, chunks: Chunks, clock: Clock, prompt_text: str) -> None: ...

    @abstractmethod
    async def check_ready(self, session: aiohttp.ClientSession) -> None: ...

    @abstractmethod
    async def list_models(self, session: aiohttp.ClientSession) -> list[str]: ...

    async def models_listed(self, session: aiohttp.ClientSession) -> tuple[list[str], str]:
        """The models the server lists and, when it lists none, why in one phrase (for "List
        models" and `--model auto`); an adapter that can say more overrides it."""
        models = await self.list_models(session)
        return models, "" if models else f"{self.server} lists no model"

    @abstractmethod
    async def preflight(self, session: aiohttp.ClientSession, request_id: str) -> str: ...

    async def server_token_count(self, session: aiohttp.ClientSession, text: str) -> int | None:
        """The server's own token count of `text`, for servers that send no usage; None when
        it offers none (the default)."""
        return None

    @property
    def tokenize_endpoint(self) -> str | None:
        """Which of the server's endpoints counted tokens, once one has."""
        return None

    # ---- shared ---------------------------------------------------------------------------

    def headers(self, request_id: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:  # a server without keys ignores it; a gateway in front of it may want one
            headers["Authorization"] = f"Bearer {self.api_key}"
        if request_id:
            headers["X-Request-Id"] = request_id
        return headers

    def request_body(self, prompt: Prompt, max_tokens: int | None = None) -> dict:
        """The JSON body for `prompt`; an adapter that sends chat messages overrides it."""
        return self.body(prompt.text, max_tokens or prompt.output_len)

    async def send(
        self,
        session: aiohttp.ClientSession,
        prompt: Prompt,
        request_id: str,
        *,
        t_scheduled_ns: int | None = None,
        timeout: float | None = None,
        chunks: Chunks | None = None,
        max_tokens: int | None = None,
        head_only: bool = False,
    ) -> RequestRecord:
        """One request and its record. `head_only` leaves the response at its status and
        headers (the connection is closed, and the server stops generating)."""
        payload = json.dumps(self.request_body(prompt, max_tokens)).encode()
        record = RequestRecord(
            request_id=request_id,
            t_start_ns=0,
            t_end_ns=0,
            t_scheduled_ns=t_scheduled_ns,
            stream=self.stream,
            input_len_requested=prompt.input_len_requested,
            output_len_requested=max_tokens or prompt.output_len or self.output_len,
            turn=prompt.turn,
        )
        reader = self.read_stream if self.stream else self.read_whole

        async def read(record: RequestRecord, resp: Response, chunks: Chunks, clock: Clock) -> None:
            if not head_only:
                await reader(record, resp, chunks, clock, prompt.text)

        await exchange(session, self.url, payload, self.headers(request_id), record, read, timeout=timeout, chunks=chunks)
        if record.error:
            record.error = self.without_key(record.error)
        if record.input_tokens is None:  # the server said nothing: the tokenizer's count
            record.input_tokens = prompt.input_tokens
            record.input_token_source = TokenSource.TOKENIZER
        return record

    def without_key(self, text: str) -> str:
        """`text` with the API key cut out: a server may quote it back in an error ("invalid
        key sk-..."), and what it says goes into messages, logs and the database."""
        return text.replace(self.api_key, REDACTED) if self.api_key else text

    # ---- before the run -------------------------------------------------------------------

    async def first_request(self, session: aiohttp.ClientSession, request_id: str, *, run_length: bool = False) -> RequestRecord:
        """One request exactly like the run's (headers, id, body shape) with a one-line prompt;
        only its status counts. It asks for one token; with `run_length`, a streamed run's asks
        for the run's max_tokens and is left at the response's head: a server that checks the
        length as it takes a request (vLLM's context limit) refuses it as it would the run's,
        and stops generating when the connection closes."""
        if run_length and self.stream:
            return await self.send(session, PREFLIGHT_PROMPT, request_id, timeout=SIDE_REQUEST_TIMEOUT_S, head_only=True)
        return await self.send(session, PREFLIGHT_PROMPT, request_id, timeout=SIDE_REQUEST_TIMEOUT_S, max_tokens=1)

    def stop_if_refused(self, record: RequestRecord) -> None:
        """A server that refuses the first request would refuse the run's: stop before it starts.
        Slow or failing answers (timeouts, 5xx, 429) are the run's to measure."""
        status = record.http_status
        if record.outcome is Outcome.CONNECT:
            raise ServerUnreachable(record.error or f"cannot connect to {self.server}")
        if status in (401, 403):
            raise ServerConfigError(f"{self.url} refused the API key (HTTP {status}); set --api-key or LLM_LOADTEST_API_KEY")
        if status is not None and 400 <= status < 500 and status not in _TRANSIENT_REFUSALS:
            raise ServerConfigError(f"{self.url} refused a request like the run's: {record.error}")

    async def get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, str]:
        """GET a side URL under the server: (status, body text); ServerUnreachable when it cannot."""
        return await self._side_request(session.get(self.server + path, headers=self.headers()))

    async def post(self, session: aiohttp.ClientSession, path: str, body: dict) -> tuple[int, str]:
        return await self._side_request(session.post(self.server + path, json=body, headers=self.headers()))

    async def _side_request(self, request) -> tuple[int, str]:
        try:
            async with asyncio.timeout(SIDE_REQUEST_TIMEOUT_S):
                async with request as resp:
                    return resp.status, self.without_key(await resp.text(errors="replace"))
        except TimeoutError:
            raise ServerUnreachable(f"no answer from {self.server} within {SIDE_REQUEST_TIMEOUT_S:g} s") from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ServerUnreachable(cannot_connect(self.server, exc)) from None
        except (aiohttp.ClientError, OSError) as exc:  # it answered, but broke off or not in HTTP
            raise ServerUnreachable(f"no usable answer from {self.server}: {short(exc)}") from None
