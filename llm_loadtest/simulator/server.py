"""Building, starting and running the simulator's aiohttp application."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from llm_loadtest.simulator.batching import BatchScheduler
from llm_loadtest.simulator.chunklog import ChunkLog
from llm_loadtest.simulator.metrics import SimMetrics
from llm_loadtest.simulator.openai_api import add_routes
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.simulator.prefix_cache import PrefixCache
from llm_loadtest.simulator.serving import LISTENER, STATE, SimState, strict_request_id
from llm_loadtest.tokens.tokenizer import get_tokenizer
from llm_loadtest.transport.server import StampingListener

PROMPT_TOKENIZER = "tiktoken:cl100k_base"
LISTENING = "llm-loadtest simulator listening on"
# Streams in flight are ended by the scheduler's shutdown; this only bounds a stuck one.
SHUTDOWN_TIMEOUT_S = 2.0
LISTEN_BACKLOG = 2048


def create_app(options: SimOptions) -> web.Application:
    # Big client bodies (long prompts) are normal here: allow 64 MiB, aiohttp's default is 1 MiB.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.cleanup_ctx.append(_lifecycle(options))
    if options.strict_request_id:
        app.middlewares.append(strict_request_id)
    if options.api == "triton":
        from llm_loadtest.simulator import triton_api

        triton_api.add_routes(app)
    else:
        add_routes(app, options)
    return app


def _lifecycle(options: SimOptions) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        scheduler = BatchScheduler(options)
        chunk_log = ChunkLog(options.chunk_log) if options.chunk_log else None
        app[STATE] = SimState(
            options=options,
            tokenizer=get_tokenizer(PROMPT_TOKENIZER),
            scheduler=scheduler,
            metrics=SimMetrics(options.model, scheduler),
            chunk_log=chunk_log,
            prefix_cache=None if options.no_prefix_cache else PrefixCache(),
        )
        scheduler.start()
        yield
        await scheduler.close()
        if chunk_log is not None:
            chunk_log.close()

    return context


async def _close_streams(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for handlers: end the streams so it need not wait.
    await app[STATE].scheduler.close()


async def start_server(options: SimOptions, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start in the running event loop; returns the runner (call `await runner.cleanup()`) and base URL."""
    app = create_app(options)
    app.on_shutdown.append(_close_streams)
    listener = await _listen(host, port)
    # the truth log takes a request's arrival from the kernel's stamp on its connection
    app[LISTENER] = listener
    runner = web.AppRunner(
        app,
        access_log=None,  # a line per request would cost more than the simulated work
        handler_cancellation=True,  # a client that leaves frees its batch slot at once
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    try:
        await runner.setup()
        site = web.SockSite(runner, listener, backlog=LISTEN_BACKLOG)
        await site.start()
    except BaseException:
        listener.close()
        raise
    bound_host, bound_port = listener.getsockname()[:2]
    return runner, f"http://{_url_host(bound_host)}:{bound_port}"


async def _listen(host: str, port: int) -> StampingListener:
    """A listening socket as aiohttp's TCPSite would make it, whose connections stamp their reads."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    listener = StampingListener(family)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        # A load test may open hundreds of connections at once: with the default backlog of 128
        # some SYNs would be dropped and those clients would wait a second to retry.
        listener.listen(LISTEN_BACKLOG)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(options: SimOptions, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code (0 for a clean stop)."""
    return asyncio.run(_serve(options, host, port))


async def _serve(options: SimOptions, host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner, url = await start_server(options, host, port)
    except OSError as exc:
        print(f"llm-loadtest: error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    # Everything built so far (modules, the tokenizer) lives as long as the process: keep it out
    # of the collector, or each full collection stalls the decode steps for tens of ms.
    gc.collect()
    gc.freeze()
    try:
        print(f"{LISTENING} {url}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
