"""The New benchmark form asks the chosen adapter: its list comes from the registry, and Test
connection / List models use that adapter's own checks (Triton: its health and repository
index, not /v1/models), over real HTTP against the simulator in Triton mode."""

from __future__ import annotations

from textual.widgets import Input, Select
from tui_helpers import wait_for

from llm_loadtest.adapters.registry import adapter_choices
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen


async def test_the_form_lists_and_checks_a_triton_server_through_its_adapter(tui_env, simulator):
    sim = simulator(api="triton", model="ensemble", ttft_ms=1, itl_ms=1)
    app = LoadTestApp(db=str(tui_env / "runs.db"))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBenchmarkScreen), what="the form")
        form = app.screen
        adapter = form.query_one("#adapter", Select)
        for _, name in adapter_choices():  # a name the list lacks would be refused
            adapter.value = name
        adapter.value = "triton"
        form.query_one("#server", Input).value = sim.url
        await pilot.pause()
        assert form.query_one("#endpoint", Select).disabled  # Triton's generate path is its own
        probe = form.query_one("#probe-result")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "connected to" in str(probe.render()), what="the connection test")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: form.query_one("#model", Input).value == "ensemble", what="the model from the repository index")
        adapter.value = "openai"
        await pilot.pause()
        assert not form.query_one("#endpoint", Select).disabled
        await pilot.press("ctrl+t")  # the OpenAI adapter's check: Triton serves no /v1/models
        await wait_for(pilot, lambda: "/v1/models answered HTTP 404" in str(probe.render()), what="the failed check")
