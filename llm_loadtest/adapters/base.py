"""The small interface every server adapter implements (OpenAI-compatible, Triton, ...).

An adapter turns one prompt into one `RequestRecord`: it builds the request, sends it through
the engine's session, reads the response (streamed or not), and stamps each chunk with the
time its bytes arrived: the kernel's receive stamp on the client's own sockets
(`adapters.stamped`), else when they came off aiohttp's (`adapters.exchange.arrival_clock`). It also knows its
server: how to tell it is ready, which models it serves, where its metrics are. The registry
(adapters.registry) finds an adapter class by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

import aiohttp

from llm_loadtest.model.records import Prompt, RequestRecord

if TYPE_CHECKING:
    from llm_loadtest.adapters.exchange import Chunks


class Adapter(Protocol):
    label: ClassVar[str]  # how the app's form names it
    endpoints: ClassVar[tuple[str, ...]]  # the config endpoints it offers, the default first; () when it has its own path

    @property
    def warm_url(self) -> str:
        """A cheap GET used to open keep-alive connections before a level."""
        ...

    def headers(self, request_id: str | None = None) -> dict[str, str]: ...

    async def check_ready(self, session: aiohttp.ClientSession) -> None:
        """Raises ServerUnreachable (or ServerConfigError for a refused key) unless the server is ready."""
        ...

    async def list_models(self, session: aiohttp.ClientSession) -> list[str]:
        """The models the server says it can serve now; [] when it does not say."""
        ...

    async def preflight(self, session: aiohttp.ClientSession, request_id: str) -> str:
        """Check the server is reachable, serves the model and accepts a request exactly like
        the run's (sent with `request_id`); return the resolved model name.

        Raises ServerUnreachable or ServerConfigError with a one-line message.
        """
        ...

    async def server_token_count(self, session: aiohttp.ClientSession, text: str) -> int | None:
        """After a level, for a server that sent no usage: its own count of `text`, or None."""
        ...

    @property
    def tokenize_endpoint(self) -> str | None:
        """Which endpoint gave server_token_count its answers (adapters.tokenize), once one did."""
        ...

    async def send(
        self,
        session: aiohttp.ClientSession,
        prompt: Prompt,
        request_id: str,
        *,
        t_scheduled_ns: int | None = None,
        timeout: float | None = None,
        chunks: Chunks | None = None,
    ) -> RequestRecord:
        """Send one request and return its record; never raises for a failed request.
        `chunks`, when given, fills as the response arrives (the progress display reads it)."""
        ...
