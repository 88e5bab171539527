"""The New benchmark form's Workload section, in the real app against the simulator: the
dataset is checked as its path is typed, the settings go through the CLI's builder, and a
run started from the form stores the workload with the file's digest."""

from __future__ import annotations

import hashlib
import json

from textual.widgets import Input, Static
from tui_helpers import wait_for

from llm_loadtest.cli import build_parser
from llm_loadtest.cli.run import config_from_args
from llm_loadtest.engine.workload_files import resolve_config
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import RunResult
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen


async def run_from_the_form(pilot, app: LoadTestApp) -> tuple[RunResult, list[RequestRecord]]:
    """Start (ctrl+s), wait for the run's end, and read the run back as stored."""
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen), what="the live screen")
    live = app.screen
    await wait_for(pilot, lambda: live.run_state.phase in ("finished", "failed"), what="the end of the run", timeout=60)
    assert live.run_state.phase == "finished", live.run_state.message
    store = app.store
    assert store is not None
    (row,) = store.list_runs()
    return store.get_result(row.run_id), store.get_records(row.run_id)


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
        stored, _ = await run_from_the_form(pilot, app)
    assert stored.config.workload.dataset_sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    assert [t.turn for t in stored.levels[0].turns] == [1, 2]


async def test_a_trace_disables_the_fields_it_sets_and_a_run_from_the_form_replays_it(tui_env, simulator):
    entries = [{"timestamp": 0, "input_length": 20 + 10 * i, "output_length": 3 + i} for i in range(4)] + [
        {"timestamp": 0, "input_length": 90}
    ]
    trace = tui_env / "t.jsonl"
    trace.write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    dataset = tui_env / "prompts.jsonl"
    dataset.write_text(json.dumps({"prompt": "one two"}) + "\n", encoding="utf-8")
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0)
    app = LoadTestApp(db=str(tui_env / "runs.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewBenchmarkScreen), what="the form")
        form = app.screen
        load_fields = ("input-len", "concurrency", "request-rate", "num-prompts", "burstiness")

        def put(widget_id: str, value: str) -> None:
            form.query_one(f"#{widget_id}", Input).value = value

        def disabled() -> set[str]:
            return {widget_id for widget_id in load_fields if form.query_one(f"#{widget_id}", Input).disabled}

        def hints() -> dict[str, str]:
            shown = {widget_id: form.query_one(f"#{widget_id}-set-by", Static) for widget_id in load_fields}
            return {widget_id: str(hint.render()) for widget_id, hint in shown.items() if hint.display}

        for widget_id, value in (("server", sim.url), ("model", "auto"), ("output-len", "6"), ("warmup", "0")):
            put(widget_id, value)
        assert form.query_one("#concurrency", Input).value == "1,5,10" and not disabled() and not hints()  # the quick preset's
        put("trace", str(trace))
        await wait_for(pilot, lambda: disabled() == set(load_fields), what="the fields the trace sets disabled")
        assert hints() == dict.fromkeys(load_fields, "set by the trace")
        focusable = {widget.id for widget in form.focus_chain}
        assert "max-concurrency" in focusable and not focusable & set(load_fields)  # the trace's cap; Tab skips the rest
        put("trace", "")
        await wait_for(pilot, lambda: not disabled() and not hints(), what="the fields enabled again")
        assert {"concurrency", "num-prompts", "input-len"} <= {widget.id for widget in form.focus_chain}
        assert "max-concurrency" not in {widget.id for widget in form.focus_chain}
        put("dataset", str(dataset))
        await wait_for(pilot, lambda: disabled() == {"input-len"}, what="the input length set by the dataset")
        assert hints() == {"input-len": "set by the dataset"}
        put("dataset", "")
        put("trace", str(trace))
        put("max-concurrency", "2")
        put("input-len", "not a length")  # a disabled field is not read
        await wait_for(pilot, lambda: disabled() == set(load_fields) and form.config is not None, what="a valid form")
        # the configuration is the one the command line makes of the same settings
        argv = ["run", "-s", sim.url, "-m", "auto", "--preset", "quick", "--trace", str(trace), "--max-concurrency", "2"]
        args = build_parser(argv).parse_args([*argv, "--output-len", "6", "--warmup", "0"])
        assert resolve_config(form.config) == config_from_args(args)
        stored, records = await run_from_the_form(pilot, app)
    ids = [record.request_id for record in records]
    (level,) = stored.levels
    assert level.concurrency == 2 and level.requests.succeeded == len(entries) == len(ids)  # one level, the trace's, capped at 2
    logged = sim.read_chunk_log(*ids)
    sent = sorted((logged[i]["prompt_tokens"], logged[i]["completion_tokens"]) for i in ids)
    assert sent == sorted((e["input_length"], e.get("output_length", 6)) for e in entries)  # its lengths; --output-len where it names none
