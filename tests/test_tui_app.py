"""The app driven from the keyboard with Pilot, on a real SQLite store and a scripted engine."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from textual.command import CommandPalette
from textual.widgets import Button, Input, RadioButton, Select, Static
from tui_helpers import RUN_IDS, FakeController, compare_with_marked, fake_factory, make_result, wait_for

from llm_loadtest.engine.benchmark import RunStartError
from llm_loadtest.engine.events import LevelStarted, WarmupStarted
from llm_loadtest.storage.store import RunRow
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.dashboard import DashboardScreen
from llm_loadtest.tui.screens.dialogs import ConfirmDialog, ExportDialog, PromptDialog
from llm_loadtest.tui.screens.history import HistoryScreen
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen
from llm_loadtest.tui.screens.result_view import ResultScreen
from llm_loadtest.tui.settings import settings_path
from llm_loadtest.tui.widgets.cards import Card
from llm_loadtest.tui.widgets.charts import Chart, Series
from llm_loadtest.tui.widgets.level_table import LevelTable
from llm_loadtest.tui.widgets.run_table import RunTable

SIZE = (100, 32)


def make_app(store, **options) -> LoadTestApp:
    return LoadTestApp(store=store, controller_factory=fake_factory(**options))


# --- app-wide ------------------------------------------------------------------------------


async def test_theme_toggle_is_remembered(filled_store):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "textual-dark"
        await pilot.press("f2")
        assert app.theme == "textual-light"
    assert 'theme = "textual-light"' in settings_path().read_text()
    again = make_app(filled_store)
    async with again.run_test(size=SIZE):
        assert again.theme == "textual-light"


async def test_a_keymap_in_the_settings_remaps_bindings_by_id(filled_store):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('[keymap]\n"dashboard.history" = "y"\n"result.export" = "x"\n', encoding="utf-8")
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")  # its old key no longer opens history
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        app.open_result(RUN_IDS[1])
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
    # the theme toggle writes the file back without losing the keymap
    assert 'result.export" = "x"' in settings_path().read_text(encoding="utf-8")


def test_every_binding_has_an_id():
    from textual.binding import Binding

    from llm_loadtest.tui.screens import capacity, compare, dashboard, dialogs, history, live_run, new_benchmark, result_view

    modules = [capacity, compare, dashboard, dialogs, history, live_run, new_benchmark, result_view]
    ours = [obj for module in modules for obj in vars(module).values() if isinstance(obj, type) and obj.__module__ == module.__name__]
    owners = [LoadTestApp] + [cls for cls in ours if "BINDINGS" in vars(cls)]
    bindings = [b for owner in owners for b in vars(owner)["BINDINGS"] if isinstance(b, Binding)]
    assert len(bindings) > 40 and all(b.id for b in bindings)
    ids = [b.id for owner in owners for b in vars(owner)["BINDINGS"]]
    assert len(ids) == len(set(ids))  # one id, one binding: a keymap line moves exactly one


async def test_escape_goes_back_and_ctrl_q_quits(filled_store):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("escape")  # nothing below the dashboard: stays
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_command_palette_opens_screens(filled_store):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"history")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))


async def test_dashboard_counts_and_recent_runs(filled_store):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert str(screen.query_one("#runs-total", Card).render()).startswith("5")
        assert str(screen.query_one("#runs-completed", Card).render()).startswith("3")
        table = screen.query_one("#recent", RunTable)
        assert table.row_count == 5
        table.focus()
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        assert app.screen.run_id == RUN_IDS[3]


# --- new benchmark -------------------------------------------------------------------------


async def test_form_validates_with_the_cli_rules(tui_env, store):
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewBenchmarkScreen)
        start = form.query_one("#start", Button)
        assert start.disabled and form.error.startswith("Server URL: give")
        form.query_one("#server", Input).value = "localhost:8000"
        form.query_one("#model", Input).value = "m"
        await pilot.pause()
        assert form.error == "Server URL: server URL must start with http:// or https:// (got 'localhost:8000')"
        assert str(form.query_one("#validation", Static).render()) == form.error
        form.query_one("#server", Input).value = "http://127.0.0.1:8000"
        await pilot.pause()
        assert form.error is None and not start.disabled
        form.query_one("#concurrency", Input).value = "1,x"
        await pilot.pause()
        assert form.error.startswith("Concurrency: must be comma-separated positive integers")
        assert start.disabled
        form.query_one("#concurrency", Input).value = "2,4"
        form.query_one("#goodput", Input).value = "ttft:abc"
        await pilot.pause()
        assert form.error.startswith("Goodput SLO: threshold for ttft must be a number")
        form.query_one("#goodput", Input).value = "ttft:300,e2e:4000"
        form.query_one("#stop-mode", Select).value = "duration"
        await pilot.pause()
        assert form.error.startswith("Seconds/level: ")
        form.query_one("#duration", Input).value = "5"
        await pilot.pause()
        config = form.config
        assert config.concurrency == [2, 4] and config.duration == 5 and config.num_prompts is None
        assert config.goodput.ttft_ms == 300 and config.goodput.e2e_ms == 4000
        assert config.workers == 1
        form.query_one("#workers", Input).value = "65"
        await pilot.pause()
        assert form.error == "Client processes: must be 1 to 64 client processes" and start.disabled
        form.query_one("#workers", Input).value = "3"
        await pilot.pause()
        assert form.config.workers == 3
        # open loop: inf sends each level's requests at once, as vLLM's bench serve does
        form.query_one("#load-mode", Select).value = "rate"
        form.query_one("#request-rate", Input).value = "4,inf"
        form.query_one("#max-concurrency", Input).value = "8"
        await pilot.pause()
        assert form.error.startswith("Rates (req/s): inf sends a level's requests all at once")  # a level of seconds has no end then
        form.query_one("#stop-mode", Select).value = "count"
        form.query_one("#num-prompts", Input).value = "40"
        await pilot.pause()
        assert form.error is None and form.config.request_rate == [4, math.inf] and form.config.max_concurrency == 8
        form.query_one("#max-concurrency", Input).value = "x"
        await pilot.pause()
        assert form.error == "Max concurrency: must be a whole number (got 'x')"


async def test_preset_choice_and_save_as_preset(tui_env, store, monkeypatch):
    monkeypatch.setenv("LLM_LOADTEST_API_KEY", "sk-secret-never-stored")
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        form = app.screen
        key = form.query_one("#api-key", Input)
        assert key.password and key.value == "sk-secret-never-stored"
        assert form.query_one("#preset", Select).value == "quick"
        assert form.query_one("#concurrency", Input).value == "1,5,10"
        form.query_one("#preset", Select).value = "stress"
        await pilot.pause()
        assert form.query_one("#concurrency", Input).value == "10,50,100,200,500"
        assert form.query_one("#num-prompts", Input).value == "500"
        assert form.query_one("#workers", Input).value == "2"
        form.query_one("#server", Input).value = "http://127.0.0.1:8000"
        form.query_one("#model", Input).value = "m"
        form.query_one("#output-len", Input).value = "99"
        await pilot.pause()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press(*"mine", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBenchmarkScreen))
        saved = tui_env / "config" / "llm-loadtest" / "presets" / "mine.toml"
        text = saved.read_text()
        assert "output_len = 99" in text and "sk-secret" not in text and "server" not in text
        assert form.query_one("#preset", Select).value == "mine"
        assert any("mine (yours)" in str(prompt) for prompt, _ in form.query_one("#preset", Select)._options)


async def test_start_runs_and_finishes_into_the_result(tui_env, store):
    FakeController.instances.clear()
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        form = app.screen
        form.query_one("#server", Input).value = "http://127.0.0.1:8000"
        form.query_one("#model", Input).value = "m"
        form.query_one("#api-key", Input).value = "sk-typed"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen))
        live = app.screen
        await wait_for(pilot, lambda: live.run_state.phase == "finished")
        controller = FakeController.instances[-1]
        assert controller.api_key == "sk-typed" and controller.config.preset == "quick"
        await pilot.pause(0.3)
        assert live.query_one("#level-table", LevelTable).row_count == 3
        assert app.run_exit_code == 0
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        assert app.screen.result.run_id == controller.run_id


async def test_run_app_options_open_the_live_run_or_the_filled_form(tui_env, store):
    config = make_result("x").config.model_copy(update={"server": "http://127.0.0.1:8001", "model": "from-cli"})
    live = LoadTestApp(store=store, initial_config=config, start_live=True, api_key="sk-cli", controller_factory=fake_factory())
    FakeController.instances.clear()
    async with live.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(live.screen, LiveRunScreen) and live.screen.run_state.phase == "finished")
        assert FakeController.instances[-1].api_key == "sk-cli"
        assert live.run_exit_code == 0
        await pilot.press("escape")
        assert isinstance(live.screen, DashboardScreen)
    form_app = LoadTestApp(store=store, initial_config=config)
    async with form_app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(form_app.screen, NewBenchmarkScreen) and bool(form_app.screen.query("#model")))
        await pilot.pause()
        form = form_app.screen
        assert form.query_one("#model", Input).value == "from-cli"
        assert form.query_one("#concurrency", Input).value == "1,5,10"
        assert form.config is not None and form.config.server == "http://127.0.0.1:8001"


# --- live run --------------------------------------------------------------------------------


async def test_the_warm_up_shows_until_the_first_level_starts(tui_env, store):
    FakeController.instances.clear()
    app = make_app(store, hang=True, stop_after_level=0, events=[WarmupStarted(requests=3)])
    async with app.run_test(size=SIZE) as pilot:
        config = make_result("x").config
        app.open_live_run(config, None)
        await wait_for(
            pilot, lambda: isinstance(app.screen, LiveRunScreen) and FakeController.instances and FakeController.instances[-1].hanging
        )
        live = app.screen
        await pilot.pause(0.6)  # a tick
        assert "warming up (3 requests, not measured)" in str(live.query_one("#progress").render())
        live.on_engine_event(LevelStarted(level_index=0, n_levels=len(config.levels()), level_label="c=1"))
        await pilot.pause(0.6)
        assert "warming up" not in str(live.query_one("#progress").render())
        live.abort()
        await wait_for(pilot, lambda: live.run_state.phase == "finished")


async def test_abort_asks_first_and_keeps_what_was_measured(tui_env, store):
    FakeController.instances.clear()
    app = make_app(store, hang=True, stop_after_level=1)
    async with app.run_test(size=SIZE) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.events_seen > 10)
        live = app.screen
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is live)
        assert not FakeController.instances[-1].aborted and live.run_state.phase == "running"
        await pilot.press("escape")  # back while running asks too
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: live.run_state.phase == "finished")
        assert FakeController.instances[-1].aborted
        assert live.run_state.result.status == "aborted" and store.get_result(live.run_state.result.run_id).status == "aborted"


async def test_live_screen_shows_progress_charts_and_telemetry(tui_env, store):
    app = make_app(store, hang=True, stop_after_level=1)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.events_seen > 10)
        live = app.screen
        await wait_for(
            pilot,
            lambda: "Level 2/3" in str(live.query_one("#progress").render()) and live.query_one("#level-table", LevelTable).row_count == 1,
        )
        await pilot.pause(0.3)
        progress = str(live.query_one("#progress").render())
        assert "Level 2/3 c=5" in progress and "100%" in progress and "50/50" in progress
        assert "client OK" in str(live.query_one("#health").render())
        # a chart draws at most 4 times a second: wait for the frame with every point
        await wait_for(pilot, lambda: live.query_one("#chart-tput", Chart).series_points() == [8])
        assert live.query_one("#level-table", LevelTable).row_count == 1
        tabs = live.query_one("#tabs")
        assert tabs.get_tab("tab-gpu").display and tabs.get_tab("tab-server").display
        await pilot.press("5")
        await wait_for(pilot, lambda: "GPU0" in str(live.query_one("#gpu-now").render()))
        await wait_for(pilot, lambda: live.query_one("#chart-gpu-util", Chart).series_points() == [8])
        # charts never take focus: Tab cycles through everything else
        for _ in range(8):
            await pilot.press("tab")
            assert not isinstance(app.focused, Chart)


async def test_ctrl_q_during_a_run_asks_then_aborts_and_quits(tui_env, store):
    FakeController.instances.clear()
    app = make_app(store, hang=True, stop_after_level=1)
    async with app.run_test(size=SIZE) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.events_seen > 10)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        assert app.is_running and not FakeController.instances[-1].aborted
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert FakeController.instances[-1].aborted
    assert app.return_value == 130
    assert store.get_result(FakeController.instances[-1].run_id).status == "aborted"


async def test_unreachable_server_is_shown_with_its_exit_code(tui_env, store):
    app = make_app(store, fail=RunStartError("cannot reach http://127.0.0.1:9: connection refused", 3))
    async with app.run_test(size=SIZE) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.phase == "failed")
        await pilot.pause(0.4)
        assert "connection refused" in str(app.screen.query_one("#status-line").render())
        assert app.run_exit_code == 3
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_client_health_turns_red_on_warnings(tui_env, store):
    import numpy as np

    from llm_loadtest.engine.events import ProgressSnapshot
    from llm_loadtest.metrics.client_health import client_health

    app = make_app(store, hang=True, stop_after_level=0)
    async with app.run_test(size=SIZE) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.events_seen > 3)
        live = app.screen
        snap = live.run_state.snapshot
        lagging = client_health(np.full(100, 9.0), 31.0)  # the warning the engine's snapshot carries
        live.on_engine_event(ProgressSnapshot(**{**{f: getattr(snap, f) for f in snap.__slots__}, "client": lagging}))
        await wait_for(pilot, lambda: "distorts" in str(live.query_one("#health").render()))
        health = live.query_one("#health").render()
        assert "distorts" in str(health) and any("red" in str(span.style) for span in health.spans)


# --- charts ------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_chart_frame_repaints_each_canvas_once_not_once_per_pixel(filled_store, monkeypatch):
    """Chart.render() batches textual-plot's canvas refreshes (what textual-plot lacks)."""
    from textual.widget import Widget
    from textual_hires_canvas import Canvas

    repaints: dict[int, int] = {}
    original = Widget.refresh

    def counting(self, *args, **kwargs):
        if isinstance(self, Canvas):
            repaints[id(self)] = repaints.get(id(self), 0) + 1
        return original(self, *args, **kwargs)

    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        app.open_result(RUN_IDS[1])
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen) and bool(app.screen.query("#by-tput")))
        await wait_for(pilot, lambda: app.screen.query_one("#by-tput", Chart).draw_count > 0)
        chart = app.screen.query_one("#by-tput", Chart)
        await pilot.pause(0.3)
        monkeypatch.setattr(Widget, "refresh", counting)
        chart.set_series([Series("x", list(range(400)), [i % 37 for i in range(400)], kind="linepoints")])
        await wait_for(pilot, lambda: not chart._dirty and chart._pending is None)
        await pilot.pause()
        monkeypatch.undo()
    plot_canvases = 4  # textual-plot's plot and its three margins
    assert 0 < len(repaints) <= plot_canvases and max(repaints.values()) <= 3  # not hundreds (one per pixel)


async def test_chart_redraws_at_most_four_times_a_second(tui_env, store):
    app = make_app(store, hang=True, stop_after_level=0)
    async with app.run_test(size=SIZE) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.events_seen > 3)
        chart = app.screen.query_one("#chart-tput", Chart)
        await pilot.pause(0.3)
        before = chart.draw_count
        started = time.monotonic()
        for i in range(60):
            chart.set_series([Series("x", list(range(i + 2)), list(range(i + 2)))])
            await pilot.pause(0.01)
        elapsed = time.monotonic() - started
        await pilot.pause(0.3)
        assert chart.draw_count - before <= int(elapsed * 4) + 2
        # and a long series is cut to about twice the plot's width
        chart.set_series([Series("x", list(range(50_000)), [i % 97 for i in range(50_000)])])
        await pilot.pause(0.4)
        assert chart.series_points()[0] <= 2 * chart.size.width


# --- history -----------------------------------------------------------------------------------


async def test_history_filters_searches_and_deletes(filled_store):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        history = app.screen
        table = history.query_one("#runs", RunTable)
        assert table.row_count == 5
        history.query_one("#status-filter", Select).value = "failed"
        await pilot.pause()
        assert table.row_count == 1 and table.current_run_id == RUN_IDS[2]
        history.query_one("#status-filter", Select).clear()
        await pilot.press("slash", *"qwen", "enter")
        await wait_for(pilot, lambda: table.row_count == 2)
        assert set(table.rows) == {RUN_IDS[1], RUN_IDS[4]}
        # delete the highlighted run, after saying yes
        target = table.current_run_id
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await pilot.pause()
        assert len(filled_store.list_runs()) == 5
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert target not in {row.run_id for row in filled_store.list_runs()}


async def test_history_will_not_delete_a_run_that_is_still_going(tui_env, store):
    store.begin_run(make_result(RUN_IDS[0], status="running"))  # written by this very process
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.query_one("#runs", RunTable).row_count == 1)
        await pilot.press("d")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HistoryScreen)  # no confirmation asked: nothing to confirm
        assert [row.run_id for row in store.list_runs()] == [RUN_IDS[0]]


class ThousandRuns:
    """A store stand-in with 1,000 runs, one of them running."""

    def __init__(self) -> None:
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        self.rows = [
            RunRow(
                run_id=f"{i:08x}-0000-4000-8000-000000000000",
                status="running" if i == 999 else ("completed" if i % 7 else "failed"),
                started_at=t0 + timedelta(minutes=i),
                finished_at=None,
                server=f"http://gpu{i % 13}:8000",
                model=f"model-{i % 5}",
                preset=None,
                levels=3,
                best_output_throughput=float(i),
                error_rate=0.0,
            )
            for i in range(1000)
        ][::-1]
        self.calls = 0

    def list_runs(self, status=None, search=None, limit=None):
        self.calls += 1
        rows = [
            r for r in self.rows if (status is None or r.status == status) and (search is None or search in r.model or search in r.server)
        ]
        return rows[:limit] if limit else rows

    def status_counts(self):
        return {}


@pytest.mark.slow
async def test_history_with_a_thousand_runs_updates_rows_in_place(tui_env):
    store = ThousandRuns()
    app = LoadTestApp(store=store)
    async with app.run_test(size=SIZE) as pilot:
        # how fast is for bench/, not for a test on shared cores: the waits are generous
        app.open_history()
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and bool(app.screen.query("#runs")), timeout=60)
        table = app.screen.query_one("#runs", RunTable)
        await wait_for(pilot, lambda: table.row_count == 1000, timeout=60)
        added = []
        original_add = table.add_row
        table.add_row = lambda *a, **k: added.append(k) or original_add(*a, **k)
        # the running run finishes: a refresh changes its cells only
        finished = store.rows[0]
        store.rows[0] = RunRow(
            **{**{f: getattr(finished, f) for f in finished.__dataclass_fields__}, "status": "completed", "best_output_throughput": 1234.5}
        )
        app.screen._refresh_running()
        await pilot.pause()
        assert added == [] and table.row_count == 1000
        assert table.get_cell(finished.run_id, "status").plain == "completed"
        # nothing running any more: the timer no longer touches the store
        calls = store.calls
        app.screen._refresh_running()
        assert store.calls == calls
        # a filter keeps only the matching rows
        app.screen.query_one("#status-filter", Select).value = "failed"
        await wait_for(pilot, lambda: table.row_count == 143, timeout=60)


# --- result and export -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", pytest.param("json", marks=pytest.mark.slow), pytest.param("xlsx", marks=pytest.mark.slow)])
async def test_result_export_from_a_key(filled_store, tui_env, fmt):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        app.open_result(RUN_IDS[1])
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen) and bool(app.screen.query("#card-tput")))
        await pilot.pause()
        result_screen = app.screen
        assert "1,890.4" in str(result_screen.query_one("#card-tput", Card).render())
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        dialog = app.screen
        dialog.query_one(f"#fmt-{fmt}", RadioButton).value = True
        await pilot.pause()
        assert dialog.query_one("#path", Input).value.endswith(f"llm-loadtest-2b3c4d5e.{fmt}")
        await pilot.press("enter")
        path = tui_env / f"llm-loadtest-2b3c4d5e.{fmt}"
        await wait_for(pilot, lambda: path in result_screen.exported, timeout=15)
        assert path.stat().st_size > 0
        if fmt == "json":
            assert json.loads(path.read_text())["run_id"] == RUN_IDS[1]


# --- compare -----------------------------------------------------------------------------------


async def test_compare_marks_up_to_five_runs(filled_store):
    app = make_app(filled_store)
    async with app.run_test(size=SIZE) as pilot:
        compare = await compare_with_marked(pilot, app, 5)
        assert len(compare.marked) == 5
        await pilot.press("up", "space")
        assert len(compare.marked) == 4
        await pilot.press("space")
        assert len(compare.marked) == 5
        await pilot.press("2")
        await pilot.pause(0.3)
        figures = compare.query_one("#figures")
        assert len(figures.columns) == 6 and figures.row_count > 10
        await pilot.press("3")
        await pilot.pause(0.4)
        assert len(compare.query_one("#cmp-tput", Chart).series_points()) >= 5
