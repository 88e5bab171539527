"""Deterministic data for the app's tests: sample runs and levels, a store filled with them, and
a scripted engine that sends a fixed run's events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llm_loadtest.engine.events import LevelFinished, LevelStarted, ProgressSnapshot, RunFinished, TelemetryUpdate
from llm_loadtest.model.config import GoodputSLO, RunConfig
from llm_loadtest.model.results import (
    ClientHealth,
    Goodput,
    GpuSample,
    LevelSummary,
    LoopLag,
    RequestCounts,
    RunResult,
    ServerSample,
    SLOCount,
    Stats,
    TokenTotals,
)

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from llm_loadtest.storage import Store
    from llm_loadtest.tui.screens.compare import CompareScreen
    from llm_loadtest.tui.screens.live_run import LiveRunScreen

SERVER = "http://10.0.0.7:8000"


async def compare_with_marked(pilot, app, runs: int) -> CompareScreen:
    """Open the compare screen from the runs list and mark its first `runs` runs."""
    from llm_loadtest.tui.screens.compare import CompareScreen  # conftest imports this module: no app at startup

    await pilot.press("c")
    compare = app.screen
    assert isinstance(compare, CompareScreen)
    for _ in range(runs):
        await pilot.press("space", "down")
    return compare


def stats(p50: float, spread: float = 1.5) -> Stats:
    return Stats(
        min=round(p50 * 0.6, 3),
        max=round(p50 * spread * 1.6, 3),
        mean=round(p50 * 1.05, 3),
        std=round(p50 * 0.2, 3),
        p50=p50,
        p90=round(p50 * spread, 3),
        p95=round(p50 * spread * 1.1, 3),
        p99=round(p50 * spread * 1.3, 3),
    )


def make_level(
    concurrency: int,
    tput: float | None,
    ttft: float | None,
    itl: float | None,
    *,
    failed: int = 0,
    total: int = 50,
    goodput: float | None = 96.0,
    warnings: list[str] | None = None,
    rate: float | None = None,
    stream: bool = True,
) -> LevelSummary:
    ok = total - failed
    if tput is None:  # every request failed: statistics are null, never 0
        return LevelSummary(
            concurrency=concurrency,
            request_rate=rate,
            requests=RequestCounts(total=total, succeeded=0, failed=failed, errors={"connect": failed}),
            duration_s=2.5,
            input_tokens=TokenTotals(total=0, mean=None),
            output_tokens=TokenTotals(total=0, mean=None),
            output_throughput=None,
            total_throughput=None,
            request_rate_achieved=None,
            ttft_ms=None,
            tpot_ms=None,
            itl_ms=None,
            itl_per_token_ms=None,
            e2e_ms=None,
            error_rate=1.0,
            goodput=None,
            client=ClientHealth(loop_lag_ms=LoopLag(p50=0.1, p99=0.5, max=1.0), cpu_percent=5.0),
        )
    return LevelSummary(
        concurrency=concurrency,
        request_rate=rate,
        requests=RequestCounts(total=total, succeeded=ok, failed=failed, errors={"http_5xx": failed} if failed else {}),
        duration_s=round(ok * 64 / tput, 2),
        input_tokens=TokenTotals(total=ok * 128, mean=128.0),
        output_tokens=TokenTotals(total=ok * 64, mean=64.0),
        output_throughput=tput,
        total_throughput=round(tput * 3, 1),
        request_rate_achieved=round(tput / 64, 2),
        ttft_ms=stats(ttft),
        tpot_ms=stats(itl * 1.02) if stream else None,
        itl_ms=stats(itl) if stream else None,
        itl_per_token_ms=stats(itl * 0.98) if stream else None,
        e2e_ms=stats(ttft + 63 * itl, 1.2),
        error_rate=failed / total,
        goodput=None
        if goodput is None
        else Goodput(
            percent=goodput,
            good=int(total * goodput / 100),
            total=total,
            rate=1.0,
            by_slo={"ttft": SLOCount(met=int(total * goodput / 100), total=total)},
        ),
        client=ClientHealth(
            loop_lag_ms=LoopLag(p50=0.1, p99=0.8 if not warnings else 7.5, max=2.0), cpu_percent=35.0, warnings=warnings or []
        ),
        input_len_requested=128,
    )


def make_result(
    run_id: str,
    *,
    model: str = "llama-3.1-8b",
    status: str = "completed",
    day: int = 1,
    hour: int = 12,
    levels: list[LevelSummary] | None = None,
    preset: str | None = "quick",
    goodput: bool = True,
    stream: bool = True,
    warnings: list[str] | None = None,
    gpu: bool = False,
) -> RunResult:
    if levels is None:
        levels = [
            make_level(1, 95.5, 18.2, 10.4, stream=stream),
            make_level(5, 410.0, 24.9, 11.8, stream=stream),
            make_level(10, 702.3, 41.7, 13.9, failed=2, goodput=88.0, stream=stream),
        ]
    config = RunConfig(
        server=SERVER,
        model=model,
        concurrency=[lv.concurrency for lv in levels if lv.concurrency] or [1],
        num_prompts=50,
        input_len=128,
        output_len=64,
        preset=preset,
        goodput=GoodputSLO(ttft_ms=200, tpot_ms=50) if goodput else None,
        stream=stream,
    )
    started = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
    return RunResult(
        run_id=run_id,
        status=status,
        started_at=started,
        finished_at=None if status == "running" else started.replace(minute=3),
        config=config,
        levels=levels,
        warnings=warnings or [],
        gpu_samples=[GpuSample(t=float(t), gpu=0, util=50.0 + t, mem_used_mb=40_000, mem_total_mb=81_920, power_w=300.0) for t in range(5)]
        if gpu
        else [],
    )


RUN_IDS = [
    "1a2b3c4d-0000-4000-8000-000000000001",
    "2b3c4d5e-0000-4000-8000-000000000002",
    "3c4d5e6f-0000-4000-8000-000000000003",
    "4d5e6f70-0000-4000-8000-000000000004",
    "5e6f7081-0000-4000-8000-000000000005",
]


def sample_results() -> list[RunResult]:
    """Five runs: completed ones on two models, a failed one, an aborted one."""
    return [
        make_result(RUN_IDS[0], day=1, gpu=True),
        make_result(
            RUN_IDS[1],
            model="qwen2.5-7b",
            day=2,
            preset="standard",
            levels=[
                make_level(1, 88.0, 21.0, 11.0),
                make_level(10, 650.0, 35.0, 14.5),
                make_level(50, 1890.4, 120.5, 22.1, failed=5, goodput=61.0, warnings=["client event-loop lag p99 is 7.5 ms (> 5 ms)"]),
            ],
            warnings=["c=50: client event-loop lag p99 is 7.5 ms (> 5 ms)"],
        ),
        make_result(RUN_IDS[2], day=3, status="failed", levels=[make_level(1, None, None, None, failed=50)], preset=None),
        make_result(RUN_IDS[3], day=4, status="aborted", levels=[make_level(1, 97.1, 17.9, 10.2)], goodput=False),
        make_result(RUN_IDS[4], model="qwen2.5-7b", day=5, stream=False, goodput=False, preset="stress"),
    ]


def fill_store(store) -> list[RunResult]:
    results = sample_results()
    for result in results:
        store.save(result)
    return results


# --- a scripted engine ---------------------------------------------------------------------


def scripted_events(config: RunConfig, *, stop_after_level: int | None = None, telemetry: bool = True) -> list:
    """A deterministic run: four snapshots per level, a summary per level, telemetry."""
    events: list = []
    labels = [spec.label for spec in config.levels()]
    t = 0.0
    for index, label in enumerate(labels):
        events.append(LevelStarted(level_index=index, n_levels=len(labels), level_label=label))
        target = config.num_prompts or 0
        for step in range(1, 5):
            t += 0.5
            events.append(
                ProgressSnapshot(
                    t=t,
                    level_index=index,
                    n_levels=len(labels),
                    level_label=label,
                    phase="running",
                    completed=target * step // 4,
                    failed=step // 3,
                    in_flight=config.concurrency[index] if index < len(config.concurrency) else 1,
                    target=target,
                    level_elapsed_s=0.5 * step,
                    level_duration_s=None,
                    output_tokens=64 * target * step // 4,
                    output_throughput=100.0 * (index + 1) + 10 * step,
                    ttft_p50_ms=15.0 + 5 * index + step,
                    ttft_p99_ms=30.0 + 8 * index + step,
                    itl_p50_ms=10.0 + index,
                    itl_p99_ms=14.0 + 2 * index,
                    error_rate=(step // 3) / max(1, target * step // 4),
                    client=ClientHealth(loop_lag_ms=LoopLag(p50=0.2, p99=0.7, max=1.5), cpu_percent=31.0),
                    errors={"http_5xx": step // 3} if step // 3 else {},
                )
            )
            if telemetry:
                events.append(
                    TelemetryUpdate(
                        gpu=[
                            GpuSample(
                                t=t,
                                gpu=0,
                                util=60.0 + 5 * index + step,
                                mem_used_mb=41_000.0,
                                mem_total_mb=81_920.0,
                                power_w=250.0 + 10 * step,
                            )
                        ],
                        server=ServerSample(t=t, running=float(step + index), waiting=float(index), kv_cache_usage=0.1 * (index + 1)),
                    )
                )
        if stop_after_level is not None and index >= stop_after_level:
            return events
        events.append(
            LevelFinished(
                level_index=index,
                summary=make_level(config.concurrency[index], 100.0 * (index + 1) + 35, 17.0 + 5 * index, 10.0 + index, failed=1),
                records=[],
            )
        )
    return events


class FakeController:
    """Stands in for engine.controller.RunController in the app's fast tests."""

    instances: list[FakeController] = []

    def __init__(
        self,
        config: RunConfig,
        *,
        api_key: str | None = None,
        store=None,
        stop_after_level: int | None = None,
        hang: bool = False,
        fail: Exception | None = None,
        events: list | None = None,
    ):
        self.config = config
        self.api_key = api_key
        self.store = store
        self.run_id = "f00dfeed-0000-4000-8000-00000000beef"
        self.listeners: list = []
        self.aborted = False
        self.hang = hang
        self.fail = fail
        self.stop_after_level = stop_after_level
        self.events = events  # sent instead of the scripted run
        self._abort_event = asyncio.Event()
        self.hanging = False  # True once every scripted event was sent and the run waits for abort()
        FakeController.instances.append(self)

    def subscribe(self, listener) -> None:
        self.listeners.append(listener)

    def abort(self) -> None:
        self.aborted = True
        self._abort_event.set()

    async def run(self) -> RunResult:
        if self.fail is not None:
            raise self.fail
        stop = self.stop_after_level if self.hang else None
        for event in scripted_events(self.config, stop_after_level=stop) if self.events is None else self.events:
            for listener in self.listeners:
                listener(event)
            await asyncio.sleep(0)
        if self.hang:
            self.hanging = True
            await self._abort_event.wait()
        n_done = len(self.config.levels()) if not self.hang else (self.stop_after_level or 0)
        levels = [make_level(self.config.concurrency[i], 100.0 * (i + 1) + 35, 17.0 + 5 * i, 10.0 + i, failed=1) for i in range(n_done)]
        result = make_result(
            self.run_id,
            model=self.config.model,
            levels=levels or [make_level(1, 1.0, 1.0, 1.0)],
            status="aborted" if self.aborted else "completed",
        )
        if self.store is not None:
            self.store.save(result)
        for listener in self.listeners:
            listener(RunFinished(result))
        return result


def fake_factory(**options):
    def factory(config, *, api_key=None, store=None):
        return FakeController(config, api_key=api_key, store=store, **options)

    return factory


# --- waiting and reading what is on screen -------------------------------------------------------------


def canvas_lines(chart, part: str) -> list[str]:
    """The characters a chart's canvas shows, line by line: `part` is textual-plot's "plot",
    "margin-left" (value labels) or "margin-bottom" (category labels)."""
    from textual_hires_canvas import Canvas

    canvas = chart.query_one(f"#{part}", Canvas)
    width, height = canvas.size
    return ["".join(canvas.get_pixel(x, y)[0] for x in range(width)) for y in range(height)]


async def wait_for(pilot, condition, timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until `condition()` holds. The timeout only catches a hang: on shared,
    busy cores a screen may take seconds to get there."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or 'the condition'}")
        await pilot.pause(0.02)


@asynccontextmanager
async def live_app(config: RunConfig, env: Path, size: tuple[int, int] = (120, 40)) -> AsyncIterator[tuple[Pilot, LiveRunScreen, Store]]:
    """The app on the live screen of a real run of `config`, its results in a store in `env`
    (the tui_env fixture): (pilot, the live screen, the store)."""
    from llm_loadtest.storage import Store  # conftest imports this module: no app at startup
    from llm_loadtest.tui.app import LoadTestApp
    from llm_loadtest.tui.screens.live_run import LiveRunScreen

    with Store.open(str(env / "runs.db")) as store:
        app = LoadTestApp(store=store, initial_config=config, start_live=True, settings_file=env / "tui.toml")
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen", timeout=60)
            assert isinstance(app.screen, LiveRunScreen)
            yield pilot, app.screen, store
