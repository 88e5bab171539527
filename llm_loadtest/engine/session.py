"""The engine's HTTP client session: aiohttp, keep-alive, connect times traced per request."""

from __future__ import annotations

import aiohttp

from llm_loadtest.adapters.openai import connect_trace_config

# long enough that connections opened before a level are still there when it ends
KEEPALIVE_S = 300


def open_session(pool_hint: int = 0) -> aiohttp.ClientSession:
    # limit=0: the engine's own workers bound concurrency; a pool limit would queue requests
    # inside aiohttp, out of sight of t_start.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=KEEPALIVE_S, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        trace_configs=[connect_trace_config()],
        auto_decompress=True,
    )
