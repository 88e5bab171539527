"""The app at 80x24, the size of a default terminal: what a user saw cut, hidden or unreadable."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Input, Label, Static, TabbedContent
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast
from tui_helpers import RUN_IDS, canvas_lines, compare_with_marked, fake_factory, make_level, make_result, scripted_events, wait_for

from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.compare import CompareScreen
from llm_loadtest.tui.screens.dashboard import DashboardScreen
from llm_loadtest.tui.screens.dialogs import ExportDialog
from llm_loadtest.tui.screens.history import HistoryScreen
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen
from llm_loadtest.tui.screens.result_view import ResultScreen
from llm_loadtest.tui.widgets.charts import Chart, value_axis

SMALL = (80, 24)


async def drawn(pilot, chart: Chart) -> None:
    await wait_for(pilot, lambda: chart.draw_count > 0 and chart._pending is None and not chart._dirty)
    await pilot.pause()


def test_value_axis_ends_on_a_labelled_round_number():
    for highest in (0.042, 3.3, 4.0, 44.0, 96.0, 737.0, 1984.5):
        for max_ticks in (2, 3, 5, 8):
            top, ticks = value_axis(highest, max_ticks)
            assert ticks[0] == 0 and ticks[-1] == top >= highest
            assert 2 <= len(ticks) <= max_ticks
            assert top <= 2 * highest  # the data fills at least half the height
    assert value_axis(44.0, 2) == (50.0, [0.0, 50.0])
    assert value_axis(0.0, 3) == (1.0, [0.0, 1.0])  # nothing to show: still an axis with a top


async def test_result_charts_label_their_values_and_tell_close_bars_apart(filled_store):
    levels = [make_level(1, 95.0, 18.0, 10.0, failed=14), make_level(8, 410.0, 25.0, 12.0, failed=22)]
    result = make_result("0badc0de-0000-4000-8000-000000000028", levels=levels)
    filled_store.save(result)
    app = LoadTestApp(store=filled_store, controller_factory=fake_factory())
    async with app.run_test(size=SMALL) as pilot:
        app.open_result(result.run_id)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        await pilot.press("2")
        errors = app.screen.query_one("#by-errors", Chart)
        await drawn(pilot, errors)
        labels = [line.strip() for line in canvas_lines(errors, "margin-left") if line.strip()]
        assert len(labels) >= 2 and labels[0] not in ("0", "0.0")  # the top of the axis is labelled
        plot = canvas_lines(errors, "plot")

        def half_rows(x: float) -> int:
            column, _ = errors.get_pixel_from_coordinate(x, 0.0)
            return sum({"█": 2, "▄": 1, "▀": 1}.get(line[column], 0) for line in plot)

        assert 0 < half_rows(1.0) < half_rows(2.0)  # 28 % below 44 %
        await pilot.press("1")
        latency = app.screen.query_one("#by-latency", Chart)
        await drawn(pilot, latency)
        labels = [line.strip() for line in canvas_lines(latency, "margin-left") if line.strip()]
        assert len(labels) >= 2 and labels[0] not in ("0", "0.0")


async def test_compare_shows_five_runs_keeps_row_titles_and_warns_of_different_workloads(filled_store):
    app = LoadTestApp(store=filled_store, controller_factory=fake_factory())
    async with app.run_test(size=SMALL) as pilot:
        compare = await compare_with_marked(pilot, app, 5)
        await pilot.press("2")
        await pilot.pause()
        table = compare.query_one("#figures", DataTable)
        assert app.focused is table  # the keys now move in the table
        assert table.fixed_columns == 1  # the row titles stay when it scrolls sideways
        assert len(table.columns) == 6
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no run cut off
        warning = compare.query_one("#workload-warning", Static)
        assert warning.display and "stream" in str(warning.render())  # run 5e6f7081 did not stream
        await pilot.press("4")
        latency = compare.query_one("#cmp-latency", Chart)
        await drawn(pilot, latency)
        assert all(fmt.short_id(run_id) in latency.border_subtitle for run_id in compare.marked)  # named below the data
        assert not latency.query_one("#legend").display  # textual-plot's legend box, which sat on the data, stays hidden


async def test_compare_of_one_workload_has_no_warning(filled_store):
    app = LoadTestApp(store=filled_store, controller_factory=fake_factory())
    async with app.run_test(size=SMALL) as pilot:
        app.open_compare([RUN_IDS[0], RUN_IDS[1]])
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        assert not app.screen.query_one("#workload-warning", Static).display


async def test_export_dialog_starts_on_the_format_and_says_the_keys(filled_store, tui_env):
    app = LoadTestApp(store=filled_store, controller_factory=fake_factory())
    async with app.run_test(size=SMALL) as pilot:
        app.open_result(RUN_IDS[1])
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        result_screen = app.screen
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog))
        dialog = app.screen
        assert app.focused is dialog.query_one("#format")
        hint = str(dialog.query_one("#export-keys", Label).render())
        assert "←→ format" in hint and "enter export" in hint and "esc cancel" in hint
        assert dialog.query_one("#export-keys").region.right <= dialog.query_one(".dialog").region.right  # not cut
        await pilot.press("right", "right")  # the arrows alone choose: JSON
        assert dialog.query_one("#path", Input).value.endswith("llm-loadtest-2b3c4d5e.json")
        await pilot.press("enter")
        path = tui_env / "llm-loadtest-2b3c4d5e.json"
        await wait_for(pilot, lambda: path in result_screen.exported, timeout=30)
        assert json.loads(path.read_text())["run_id"] == RUN_IDS[1]


async def test_an_error_line_under_the_form_keeps_the_field_being_edited_in_view(tui_env, store):
    app = LoadTestApp(store=store, controller_factory=fake_factory())
    async with app.run_test(size=SMALL) as pilot:
        app.open_new_benchmark()
        await wait_for(pilot, lambda: isinstance(app.screen, NewBenchmarkScreen) and bool(app.screen.query("#goodput")))
        await pilot.pause()
        screen = app.screen
        screen.query_one("#server", Input).value = "http://127.0.0.1:8000"
        screen.query_one("#model", Input).value = "m"
        goodput = screen.query_one("#goodput", Input)
        goodput.focus()
        await pilot.pause()
        await pilot.press(*"ttft:abc,tpot:")
        await pilot.pause()
        assert screen.error is not None and screen.query_one("#validation").display
        form = screen.query_one("#form")
        assert form.region.contains_region(goodput.region)  # still on screen, not scrolled away


async def test_a_new_benchmark_after_the_demo_starts_on_the_simulator(tui_env, store):
    demo = make_result("x").config.model_copy(update={"server": "http://127.0.0.1:38421", "model": "auto"})
    app = LoadTestApp(store=store, controller_factory=fake_factory(), initial_config=demo, start_live=True)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and not app.screen.in_flight, timeout=15)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBenchmarkScreen) and bool(app.screen.query("#server")))
        await pilot.pause()
        assert app.screen.query_one("#server", Input).value == "http://127.0.0.1:38421"
        assert app.screen.query_one("#model", Input).value == "auto"


async def test_without_a_gpu_the_gpu_tab_says_so_and_v_leaves_no_stale_toast(tui_env, store):
    events = scripted_events(make_result("x").config, telemetry=False)
    app = LoadTestApp(store=store, controller_factory=fake_factory(events=events))
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        app.open_live_run(make_result("x").config, None)
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.phase == "finished", timeout=15)
        live = app.screen
        await pilot.press("5")
        await pilot.pause()
        assert live.query_one(TabbedContent).active == "tab-gpu"
        assert "No GPU" in str(live.query_one("#gpu-now").render())
        assert not live.query_one("#gpu-charts").display
        await wait_for(pilot, lambda: any("press v" in str(toast.render()) for toast in live.query(Toast)))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        await pilot.pause()
        assert not any("press v" in str(toast.render()) for toast in app.screen.query(Toast))


def footer_fits(screen) -> bool:
    """Every key the footer shows ends before the command palette's key, uncut."""
    keys = [key for key in screen.query(FooterKey) if "-command-palette" not in key.classes]
    palette = [key for key in screen.query(FooterKey) if "-command-palette" in key.classes]
    limit = palette[0].region.x if palette else screen.size.width
    return bool(keys) and all(key.region.right <= limit for key in keys)


async def test_footers_and_title_lines_are_whole_at_80_columns(filled_store):
    long_model = make_result("0badc0de-0000-4000-8000-0000000000ff", model="meta-llama/Llama-3.1-70B-Instruct-FP8")
    filled_store.save(long_model)
    app = LoadTestApp(store=filled_store, controller_factory=fake_factory())
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert footer_fits(app.screen), "dashboard"
        for opener, kind in [
            (app.open_history, HistoryScreen),
            (app.open_new_benchmark, NewBenchmarkScreen),
            (lambda: app.open_compare(RUN_IDS[:2]), CompareScreen),
            (lambda: app.open_result(long_model.run_id), ResultScreen),
        ]:
            opener()
            await wait_for(pilot, lambda kind=kind: isinstance(app.screen, kind) and bool(app.screen.query(FooterKey)))
            await pilot.pause()
            assert footer_fits(app.screen), kind.__name__
            if kind is not ResultScreen:
                app.pop_screen()
                await pilot.pause()
        title = app.screen.query_one("#result-title", Static)
        text = title.render()
        assert "Llama-3.1-70B-Instruct-FP8 @ 10.0.0.7:8000 · 2026-11-01 12:00" in str(text)
        assert len(str(text)) <= title.region.width * title.region.height  # wrapped, not cut
        assert "preset quick" in app.screen.sub_title
