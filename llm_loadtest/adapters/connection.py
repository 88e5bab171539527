"""The New benchmark form's two questions, answered by the adapter's own checks: is the
server there (Test connection), and which models does it serve (List models)?

The engine's preflight asks the same adapter before a run; this only answers quickly, within
`timeout`, with one line for the form.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from llm_loadtest.adapters.exchange import cannot_connect
from llm_loadtest.adapters.registry import adapter_class
from llm_loadtest.model.config import server_url
from llm_loadtest.model.errors import LoadtestError

PROBE_TIMEOUT_S = 5.0


@dataclass
class ConnectionCheck:
    ok: bool
    message: str
    models: list[str] = field(default_factory=list)


async def check_connection(adapter: str, server: str, api_key: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> ConnectionCheck:
    """Ready or not, how fast it answered, and the models it lists."""
    return await _ask(adapter, server, api_key, timeout, ready_first=True)


async def list_models(adapter: str, server: str, api_key: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> ConnectionCheck:
    return await _ask(adapter, server, api_key, timeout, ready_first=False)


async def _ask(adapter_name: str, server: str, api_key: str | None, timeout: float, *, ready_first: bool) -> ConnectionCheck:
    try:
        url = server_url(server)
        adapter = adapter_class(adapter_name)(server=url, model="auto", api_key=api_key)
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
            if ready_first:
                await adapter.check_ready(session)
                models = await adapter.list_models(session)
            else:
                models, why_none = await adapter.models_listed(session)
                if not models:
                    return ConnectionCheck(False, why_none)
    except (LoadtestError, ValueError) as exc:
        return ConnectionCheck(False, str(exc))
    except TimeoutError:
        return ConnectionCheck(False, f"no answer from {server.strip()} within {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return ConnectionCheck(False, cannot_connect(server.strip(), exc))
    elapsed_ms = (time.perf_counter() - started) * 1000
    served = f"; models: {', '.join(models[:3])}{' …' if len(models) > 3 else ''}" if models else ""
    return ConnectionCheck(True, f"connected to {url} in {elapsed_ms:.0f} ms{served}", models)
