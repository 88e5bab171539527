"""A run without the app: progress on stderr, the summary on stdout, JSON and logs on request,
and docs/cli.md's exit codes."""

from __future__ import annotations

import asyncio
import sys

from llm_loadtest.cli.progress import ProgressPrinter
from llm_loadtest.cli.run_options import RunOptions
from llm_loadtest.cli.signals import Interruption, install_interrupt
from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import RunResult


def run_headless(config: RunConfig, api_key: str | None, options: RunOptions) -> int:
    options.check_files()
    if (publisher := options.publisher()) is not None and publisher.port is not None:
        # the port it bound (`--prometheus-port 0` picks one): where to point Prometheus or curl
        print(f"Prometheus metrics at http://{options.prometheus_host}:{publisher.port}/metrics", file=sys.stderr)
    store = options.open_store()  # a database that cannot be used stops us before any traffic
    try:
        result, stop = asyncio.run(_run(config, api_key, options, store))
    finally:
        if store is not None:
            store.close()
    print(result_report(result))
    return options.finish(result, terminated=stop.terminated)


async def _run(config: RunConfig, api_key: str | None, options: RunOptions, store) -> tuple[RunResult, Interruption]:
    controller = options.controller(config, api_key=api_key, store=store)
    controller.subscribe(ProgressPrinter(sys.stderr))
    stop = install_interrupt(asyncio.get_running_loop(), controller.abort)
    return await controller.run(), stop  # a RunStartError carries its exit code
