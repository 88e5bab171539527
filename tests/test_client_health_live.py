"""One source for a level's client health: what the live screen warns while the level runs
is the computation its stored summary keeps, and `show` prints the stored warnings."""

from __future__ import annotations

import time

import numpy as np
import pytest

from llm_loadtest.cli import main
from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import EngineEvent, LevelFinished, ProgressSnapshot
from llm_loadtest.engine.pool import merge_snapshots
from llm_loadtest.engine.session import USER_CLOCK_ENV
from llm_loadtest.metrics.client_health import LOOP_LAG_P99_WARN_MS, level_client_health
from llm_loadtest.model.config import RunConfig
from llm_loadtest.storage import Store
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.result_view import ResultScreen

# a listener in the engine's own loop that takes this long holds every timer back as long:
# about one in ten lag probes is late by as much, far beyond the warning's p99
SLOW_LISTENER_S = 0.03


@pytest.mark.parametrize(
    "load",
    [{"concurrency": [2]}, {"request_rate": [50.0]}],
    ids=["closed-loop", "rate"],
)
async def test_the_live_warning_is_the_stored_levels(simulator, tui_env, tmp_path, capsys, monkeypatch, load):
    # on this process's own clock, the blocked loop moves the chunk times: loop lag warns
    monkeypatch.setenv(USER_CLOCK_ENV, "1")
    sim = simulator(ttft_ms=5, itl_ms=2, step_us_per_seq=0, prefill_us_per_token=0)
    config = RunConfig(server=sim.url, model="auto", warmup=0, num_prompts=40, input_len=16, output_len=32, **load)
    db = str(tmp_path / "runs.db")
    last_snapshot: dict[int, ProgressSnapshot] = {}
    finished: dict[int, LevelFinished] = {}

    def slow_listener(event: EngineEvent) -> None:
        if isinstance(event, ProgressSnapshot):
            last_snapshot[event.level_index] = event
            time.sleep(SLOW_LISTENER_S)  # blocks the engine's loop: in-process, it is this one
        elif isinstance(event, LevelFinished):
            finished[event.level_index] = event

    with Store.open(db) as store:
        controller = RunController(config, in_process=True, gpu=False, store=store)
        controller.subscribe(slow_listener)
        result = await controller.run()

    assert result.status == "completed"
    live, stored = last_snapshot[0], finished[0].summary.client
    assert live.phase == "done" and stored is not None
    assert stored.loop_lag_ms.p99 > LOOP_LAG_P99_WARN_MS
    # the level's last snapshot carries the very health its summary keeps, warnings included
    assert live.client == stored
    assert any("event-loop lag" in w for w in stored.warnings)
    if "request_rate" in load:
        assert stored.scheduling_delay_ms is not None  # its figures too: the live ones are equal
    # what the result view and `show` print: the stored level's warnings, under its label
    label = finished[0].summary.label
    assert [f"{label}: {w}" for w in stored.warnings] == [w for w in result.warnings if w.startswith(f"{label}: ")]
    assert main(["show", result.run_id, "--db", db]) == 0
    shown = capsys.readouterr().out
    for warning in stored.warnings:
        assert f"warning: {label}: {warning}" in shown
    with Store.open(db) as store:
        app = LoadTestApp(store=store)
        async with app.run_test(size=(120, 40)) as pilot:
            app.open_result(result.run_id)

            def warnings_line() -> str:
                found = app.screen.query("#warnings") if isinstance(app.screen, ResultScreen) else []
                return str(found[0].render()) if found else ""

            for _ in range(300):  # the result loads from the store in a worker
                if warnings_line():
                    break
                await pilot.pause(0.1)
            viewed = warnings_line()
    assert "event-loop lag" in viewed and label in viewed


def test_a_pooled_level_shows_its_worst_workers_health_until_its_summary():
    spec = RunConfig(server="http://127.0.0.1:9", model="m", concurrency=[4]).levels()[0]
    calm = level_client_health(spec, np.full(50, 1.0), 40.0, None)
    lagging = level_client_health(spec, np.full(50, 8.0), 40.0, None)

    def snapshot(client) -> ProgressSnapshot:
        return ProgressSnapshot(
            t=1.0, level_index=0, n_levels=1, level_label=spec.label, phase="running", completed=2, failed=0, in_flight=2,
            target=8, level_elapsed_s=1.0, level_duration_s=None, output_tokens=10, client=client,
        )  # fmt: skip

    assert merge_snapshots([snapshot(calm), snapshot(lagging), snapshot(None)], target=8).client == lagging
    assert merge_snapshots([snapshot(None)], target=8).client is None
