"""`recommend --headless`: progress on stderr (a line per probe), the answer on stdout, the
result JSON with `-o`, and docs/cli.md's exit codes."""

from __future__ import annotations

import asyncio
import sys

from llm_loadtest.capacity.events import ProbeFinished, ProbeStarted
from llm_loadtest.capacity.gpus import flag_gpus, serving_gpus
from llm_loadtest.capacity.recommend import exit_code_for
from llm_loadtest.capacity.search import CapacitySearch
from llm_loadtest.cli.run_options import RunOptions, write_atomically
from llm_loadtest.cli.signals import Interruption, install_interrupt
from llm_loadtest.engine.threads import in_passing_thread
from llm_loadtest.export.json_export import to_json_text
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import RunResult
from llm_loadtest.model.search import SearchTarget
from llm_loadtest.report.capacity import probe_line, search_report
from llm_loadtest.report.workload_view import shape_text, workload_line


def recommend_headless(
    config: RunConfig, target: SearchTarget, api_key: str | None, options: RunOptions, *, gpus: tuple[int | None, str | None]
) -> int:
    store = options.open_store()  # a database that cannot be used stops us before any traffic
    try:
        result, stop = asyncio.run(_search(config, target, api_key, options, store, gpus))
    finally:
        if store is not None:
            store.close()
    search = result.search
    assert search is not None, "a capacity search's result holds the search"
    if (workload := workload_line(result.config)) is not None:  # as `run` says it
        print(workload)
    print(search_report(result))
    if options.output:
        try:
            write_atomically(options.output, to_json_text(result))
        except OSError as exc:
            print(f"llm-loadtest: error: cannot write --output {options.output}: {exc.strerror or exc}", file=sys.stderr)
            return exit_code_for(result, terminated=stop.terminated) or 2
    code = exit_code_for(result, terminated=stop.terminated)
    if code == 1:
        assert search.answer is not None, "a search that found the target unmet says why"
        print(f"llm-loadtest: the target cannot be met: {search.answer.reason}", file=sys.stderr)
    return code


async def _search(
    config, target, api_key, options: RunOptions, store, gpus: tuple[int | None, str | None]
) -> tuple[RunResult, Interruption]:
    counted = flag_gpus(*gpus)
    note = None
    if counted is None:
        counted, note = await in_passing_thread(lambda: serving_gpus(config.server))
    search = CapacitySearch(
        config,
        target,
        make_controller=lambda probe_config: options.controller(probe_config, api_key=api_key),
        store=store,
        gpus=counted,
        gpu_note=note,
    )
    search.subscribe(SearchProgress(target.goodput_percent, config))
    stop = install_interrupt(asyncio.get_running_loop(), search.abort)
    return await search.run(), stop  # a RunStartError carries its exit code


class SearchProgress:
    """A line as each probe starts and ends, with the bracket so far."""

    def __init__(self, target_percent: float, config: RunConfig, stream=None):
        self.target_percent = target_percent
        self.config = config  # what the probes send
        self.stream = stream or sys.stderr
        self.finished = 0

    def __call__(self, event) -> None:
        if isinstance(event, ProbeStarted):
            shape = shape_text(self.config, event.input_len, event.output_len)
            print(f"probe {event.number}: {event.phase} at {event.label}{f', shape {shape}' if shape else ''}", file=self.stream)
        elif isinstance(event, ProbeFinished):
            self.finished += 1
            print(probe_line(self.finished, event.probe, self.target_percent), file=self.stream)
            holds, misses = event.holds, event.misses
            print(f"  bracket: meets at {_load(holds)}, misses at {_load(misses)}", file=self.stream, flush=True)


def _load(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
