"""Snapshots of every screen at 80x24 and 120x40, dark and light, from fixed data.

Update after a deliberate change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the report before committing the new pictures.
"""

from __future__ import annotations

import shutil

import pytest
from textual.widgets import Input
from tui_helpers import RUN_IDS, FakeController, fake_factory, fill_store, make_result

from llm_loadtest.storage.store import Store
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.widgets.charts import Chart

SIZES = [(80, 24), (120, 40)]
# the light pictures run in CI with the slow cases; the dark ones on every quick run
THEMES = ["textual-dark", pytest.param("textual-light", marks=pytest.mark.slow)]


async def settle(pilot, timeout: float = 3.0) -> None:
    """Wait until workers, timers and every chart's throttled redraw are done."""
    app = pilot.app
    await pilot.pause()
    waited = 0.0
    while waited < timeout:
        charts = list(app.screen.query(Chart))
        busy = [c for c in charts if c._pending is not None or (c._dirty and c.display and c.region.width)]
        if not busy:
            break
        await pilot.pause(0.05)
        waited += 0.05
    for widget in app.screen.query(Input):
        widget.cursor_blink = False  # a blinking cursor would make the picture depend on timing
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def open_screen(name: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        if name == "new_benchmark":
            app.open_new_benchmark()
        elif name == "live_run":
            FakeController.instances.clear()
            app.open_live_run(make_result("x").config, None)
            while not (FakeController.instances and FakeController.instances[-1].hanging):
                await pilot.pause(0.02)
            while not app.screen.drawn:  # the screen's tick shows them
                await pilot.pause(0.05)
        elif name == "result":
            app.open_result(RUN_IDS[1])
        elif name == "history":
            app.open_history()
        elif name == "compare":
            app.open_compare(RUN_IDS[:2])
        elif name == "compare_chart":
            app.open_compare(RUN_IDS[:2])
            await settle(pilot)
            await pilot.press("3")
        await settle(pilot)

    return run_before


SCREENS = ["dashboard", "new_benchmark", "live_run", "result", "history", "compare", "compare_chart"]


@pytest.fixture(scope="module")
def runs_db(tmp_path_factory):
    """The fixed runs, stored once; each test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("snapshots") / "runs.db"
    with Store.open(str(path)) as store:
        fill_store(store)
    return path


@pytest.fixture
def snapshot_store(tui_env, runs_db):
    copy = tui_env / "runs.db"
    shutil.copyfile(runs_db, copy)
    with Store.open(str(copy)) as store:
        yield store


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", SCREENS)
def test_screen_snapshot(snap_compare, snapshot_store, screen, size, theme):
    app = LoadTestApp(store=snapshot_store, controller_factory=fake_factory(hang=True, stop_after_level=1))
    app.theme = theme
    assert snap_compare(app, terminal_size=size, run_before=open_screen(screen))
