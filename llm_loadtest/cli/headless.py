"""A run without the app: progress on stderr, the summary on stdout, JSON and logs on request,
and docs/cli.md's exit codes."""

from __future__ import annotations

import asyncio
import sys

from llm_loadtest.cli import CliError
from llm_loadtest.cli.progress import ProgressPrinter
from llm_loadtest.cli.run_options import RunOptions
from llm_loadtest.cli.signals import install_interrupt
from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.engine.controller import RunStartError
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import RunResult


def run_headless(config: RunConfig, api_key: str | None, options: RunOptions) -> int:
    options.check_files()
    store = _open_store(options) if options.save else None
    try:
        result = asyncio.run(_run(config, api_key, options, store))
    finally:
        if store is not None:
            store.close()
    print(result_report(result))
    return options.finish(result)


async def _run(config: RunConfig, api_key: str | None, options: RunOptions, store) -> RunResult:
    controller = options.controller(config, api_key=api_key, store=store)
    controller.subscribe(ProgressPrinter(sys.stderr))
    install_interrupt(asyncio.get_running_loop(), controller.abort)
    try:
        return await controller.run()
    except RunStartError as exc:
        raise CliError(str(exc), exc.exit_code) from None


def _open_store(options: RunOptions):
    """A database that cannot be opened costs the storing, never the run."""
    try:
        from llm_loadtest.storage.store import Store

        return Store.open(options.db)
    except Exception as exc:
        print(f"llm-loadtest: warning: results will not be saved: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None
