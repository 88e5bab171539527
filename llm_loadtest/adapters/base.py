"""The small interface every server adapter implements (OpenAI-compatible, Triton, ...).

An adapter turns one prompt into one `RequestRecord`: it builds the request, sends it on the
engine's aiohttp session, reads the response (streamed or not), and stamps each chunk with
the time its bytes came off the socket (`adapters.exchange.arrival_clock`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import aiohttp

from llm_loadtest.model.records import Prompt, RequestRecord

if TYPE_CHECKING:
    from llm_loadtest.adapters.exchange import Chunks


class Adapter(Protocol):
    name: str
    # a cheap GET used to open keep-alive connections before a level
    warm_url: str

    def headers(self, request_id: str | None = None) -> dict[str, str]: ...

    async def preflight(self, session: aiohttp.ClientSession) -> str:
        """Check the server is reachable and serves the model; return the resolved model name.

        Raises ServerUnreachable or ServerConfigError with a one-line message.
        """
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
