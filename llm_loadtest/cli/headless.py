"""A run without the app: progress on stderr, the summary on stdout, JSON and logs on request,
and cli.md's exit codes."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from llm_loadtest.cli import CliError
from llm_loadtest.cli.progress import ProgressPrinter
from llm_loadtest.cli.run_log import RunLog
from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.config import RunConfig
from llm_loadtest.engine.controller import RunController, RunStartError
from llm_loadtest.export.json_export import to_json_text
from llm_loadtest.results.model import RunResult

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class HeadlessOptions:
    output: Path | None = None
    log_file: Path | None = None
    db: str | None = None
    save: bool = True
    in_process: bool = False
    fail_under_goodput: float | None = None
    metrics_url: str | None = None
    gpu: bool = True
    telemetry_interval_s: float = 1.0


def run_headless(config: RunConfig, api_key: str | None, options: HeadlessOptions) -> int:
    _check_writable(options.output, "--output")
    _check_writable(options.log_file, "--log-file")
    store = _open_store(options) if options.save else None
    try:
        result = asyncio.run(_run(config, api_key, options, store))
    finally:
        if store is not None:
            store.close()
    print(result_report(result))
    code = exit_code(result, options.fail_under_goodput)
    if options.output:
        try:
            write_atomically(options.output, to_json_text(result))
        except OSError as exc:
            print(f"llm-loadtest: error: cannot write --output {options.output}: {exc.strerror or exc}", file=sys.stderr)
            return code or 2
    return code


async def _run(config: RunConfig, api_key: str | None, options: HeadlessOptions, store) -> RunResult:
    from llm_loadtest.cli.run import install_interrupt

    controller = RunController(
        config,
        api_key=api_key,
        store=store,
        in_process=options.in_process,
        gpu=options.gpu,
        telemetry_interval_s=options.telemetry_interval_s,
        metrics_url=options.metrics_url,
    )
    controller.subscribe(ProgressPrinter(sys.stderr))
    log = RunLog(options.log_file, controller.run_id, config) if options.log_file else None
    if log:
        controller.subscribe(log)
    install_interrupt(asyncio.get_running_loop(), controller.abort)
    try:
        return await controller.run()
    except RunStartError as exc:
        raise CliError(str(exc), exc.exit_code) from None
    finally:
        if log:
            log.close()


def exit_code(result: RunResult, fail_under_goodput: float | None) -> int:
    if result.status == "aborted":
        return EXIT_INTERRUPTED
    if result.status == "failed":
        return EXIT_FAILED
    if fail_under_goodput is not None:
        for level in result.levels:
            if level.goodput is None or level.goodput.percent is None or level.goodput.percent < fail_under_goodput:
                return EXIT_FAILED
    return EXIT_OK


def _open_store(options: HeadlessOptions):
    """A database that cannot be opened costs the storing, never the run."""
    try:
        from llm_loadtest.storage.store import Store

        return Store.open(options.db)
    except Exception as exc:
        print(f"llm-loadtest: warning: results will not be saved: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None


def _check_writable(path: Path | None, flag: str) -> None:
    """Find out before the run, not after it, that a file cannot be written."""
    if path is None:
        return
    existed = path.exists()
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot write there ({exc.strerror or exc})", 2) from None
    if not existed:
        path.unlink()


def write_atomically(path: Path, text: str) -> None:
    """A reader never sees half a file, and an old file survives a failed write."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
