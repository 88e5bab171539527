"""The whole path, from the keyboard, against the real engine and the simulator over HTTP on
127.0.0.1, with a real SQLite file: choose a preset, edit a field, start, watch the live
screen, finish, find the run in history, open it, export it, compare two runs, delete one."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input, RadioButton, Select
from tui_helpers import wait_for

from llm_loadtest.storage.store import Store
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.compare import CompareScreen
from llm_loadtest.tui.screens.dashboard import DashboardScreen
from llm_loadtest.tui.screens.dialogs import ConfirmDialog, ExportDialog
from llm_loadtest.tui.screens.history import HistoryScreen
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen
from llm_loadtest.tui.screens.result_view import ResultScreen
from llm_loadtest.tui.widgets.level_table import LevelTable
from llm_loadtest.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.slow


def on(app, screen_type, selector: str) -> bool:
    return isinstance(app.screen, screen_type) and bool(app.screen.query(selector))


async def run_from_form(pilot, app, sim_url: str, *, preset: str, concurrency: str) -> LiveRunScreen:
    """From the dashboard: n, pick a preset, fill the target, edit fields, ctrl+s; wait for the end."""
    await pilot.press("n")
    await wait_for(pilot, lambda: on(app, NewBenchmarkScreen, "#start"), what="the form")
    form = app.screen
    form.query_one("#preset", Select).value = preset
    await pilot.pause()
    form.query_one("#server", Input).focus()
    await pilot.press(*sim_url)
    await pilot.press("ctrl+t")  # test the connection
    await wait_for(pilot, lambda: "connected to" in str(form.query_one("#probe-result").render()), what="the connection test")
    await pilot.press("ctrl+l")  # the model list from /v1/models (one model: filled in)
    await wait_for(pilot, lambda: form.query_one("#model", Input).value == "sim-model", what="the model list")
    for field, value in (("concurrency", concurrency), ("num-prompts", "16"), ("input-len", "32"), ("output-len", "24"), ("warmup", "1")):
        form.query_one(f"#{field}", Input).value = value
    await pilot.pause()
    assert form.error is None, form.error
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: on(app, LiveRunScreen, "#level-table"), what="the live screen")
    live = app.screen
    # the live screen updates while the run goes
    await wait_for(pilot, lambda: live.run_state.snapshot is not None, timeout=30, what="a progress snapshot")
    await wait_for(pilot, lambda: live.run_state.phase in ("finished", "failed"), timeout=60, what="the end of the run")
    assert live.run_state.phase == "finished", live.run_state.message
    levels = len(concurrency.split(","))
    await wait_for(pilot, lambda: live.query_one("#level-table", LevelTable).row_count == levels, what="the level table")
    assert live.run_state.progress.t, "no snapshot reached the charts"
    return live


async def test_the_whole_path_against_the_simulator(tui_env, simulator):
    sim = simulator(itl_ms=2, ttft_ms=5)
    db = tui_env / "runs.db"
    app = LoadTestApp(db=str(db))
    async with app.run_test(size=(100, 32)) as pilot:
        live = await run_from_form(pilot, app, sim.url, preset="quick", concurrency="1,4")
        first = live.run_state.result
        assert first.status == "completed" and first.config.preset == "quick"
        assert [level.requests.succeeded for level in first.levels] == [16, 16]
        assert app.run_exit_code == 0

        # open it, export it
        await pilot.press("v")
        await wait_for(pilot, lambda: on(app, ResultScreen, "#card-tput"), what="the result")
        result_screen = app.screen
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        app.screen.query_one("#fmt-json", RadioButton).value = True
        await pilot.pause()
        await pilot.press("enter")
        exported = tui_env / f"llm-loadtest-{first.run_id[:8]}.json"
        await wait_for(pilot, lambda: exported in result_screen.exported, timeout=15, what="the export")
        assert json.loads(exported.read_text())["run_id"] == first.run_id

        # back to the dashboard (result -> form -> dashboard) and a second run
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        live = await run_from_form(pilot, app, sim.url, preset="standard", concurrency="2")
        second = live.run_state.result
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))

        # find both in history, open one, compare the two, delete one
        await pilot.press("h")
        await wait_for(pilot, lambda: on(app, HistoryScreen, "#runs"))
        history = app.screen
        table = history.query_one("#runs", RunTable)
        assert [table.get_row_at(i)[1].run_id for i in range(2)] == [second.run_id, first.run_id]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: on(app, ResultScreen, "#levels"))
        assert app.screen.run_id == first.run_id
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is history)
        await pilot.press("space", "up", "space", "c")
        await wait_for(pilot, lambda: on(app, CompareScreen, "#figures"))
        await pilot.pause(0.3)
        assert sorted(app.screen.marked) == sorted([first.run_id, second.run_id])
        assert len(app.screen.query_one("#figures").columns) == 3
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is history)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 1)

    with Store.open(str(db)) as store:
        rows = store.list_runs()
        assert [row.run_id for row in rows] == [first.run_id]
        assert store.get_result(first.run_id).levels[1].concurrency == 4
