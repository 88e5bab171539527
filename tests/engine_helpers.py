"""Run a benchmark against a simulator and keep its records, for the engine tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import LevelFinished
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import RunResult


@dataclass
class Outcome:
    result: RunResult
    records: dict[int, list[RequestRecord]] = field(default_factory=dict)

    @property
    def all_records(self) -> list[RequestRecord]:
        return [r for level in self.records.values() for r in level]


async def run_benchmark(url: str, *, in_process: bool = True, api_key: str | None = None, run_id: str | None = None, **config) -> Outcome:
    config.setdefault("model", "auto")
    config.setdefault("warmup", 0)
    controller = RunController(RunConfig(server=url, **config), api_key=api_key, in_process=in_process, gpu=False, run_id=run_id)
    records: dict[int, list[RequestRecord]] = {}

    def keep(event) -> None:
        if isinstance(event, LevelFinished):
            records[event.level_index] = event.records

    controller.subscribe(keep)
    result = await controller.run()
    return Outcome(result, records)
