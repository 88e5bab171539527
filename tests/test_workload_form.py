"""The New benchmark form's Workload section, in the real app against the simulator: the
dataset is checked as its path is typed, the settings go through the CLI's builder, and a
run started from the form stores the workload with the file's digest."""

from __future__ import annotations

import hashlib
import json

from textual.widgets import Input, Static
from tui_helpers import wait_for

from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen


async def test_the_form_offers_the_workload_and_checks_a_dataset_as_it_is_typed(tui_env, simulator):
    good = tui_env / "prompts.jsonl"
    good.write_text("\n".join(json.dumps({"prompt": p}) for p in ("one two", "three four", "five six")) + "\n", encoding="utf-8")
    bad = tui_env / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": 5}\n', encoding="utf-8")
    sim = simulator(ttft_ms=1, itl_ms=0)
    app = LoadTestApp(db=str(tui_env / "runs.db"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBenchmarkScreen), what="the form")
        form = app.screen

        def put(widget_id: str, value: str) -> None:
            form.query_one(f"#{widget_id}", Input).value = value

        def check_line() -> str:
            return str(form.query_one("#dataset-check", Static).render())

        put("server", sim.url)
        put("model", "auto")
        put("dataset", str(bad))
        await wait_for(pilot, lambda: "bad.jsonl line 2: `prompt` must be a non-empty string" in check_line(), what="the bad line")
        put("dataset", str(good))
        await wait_for(pilot, lambda: check_line() == "3 prompts", what="the dataset's count")
        put("turns", "0")
        await pilot.pause()
        assert form.error == "Turns: must be 1 to 100"
        for widget_id, value in (
            ("turns", "2"),
            ("output-len", "uniform:3:6"),
            ("concurrency", "1"),
            ("num-prompts", "4"),
            ("warmup", "0"),
        ):
            put(widget_id, value)
        await pilot.pause()
        assert form.error is None, form.error
        workload = form.config.workload
        assert workload.dataset == str(good) and workload.turns == 2 and workload.output_len == "uniform:3:6"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
        live = app.screen
        await wait_for(pilot, lambda: live.run_state.phase in ("finished", "failed"), what="the end of the run", timeout=60)
        assert live.run_state.phase == "finished", live.run_state.message
    from llm_loadtest.storage.store import Store

    with Store.open(str(tui_env / "runs.db")) as store:
        (row,) = store.list_runs()
        stored = store.get_result(row.run_id)
    assert stored.config.workload.dataset_sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    assert [t.turn for t in stored.levels[0].turns] == [1, 2]
