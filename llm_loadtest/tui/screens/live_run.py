"""Live run: the engine's snapshots as they come (2-4 Hz), charts over time and by level.

The engine runs its requests in a child process; its controller lives in this event loop (a
Textual worker). The run's state is a plain object (tui.live_state) that the controller's
events feed; this screen only arranges widgets and draws from it. A tick twice a second puts
what changed on screen (lines of fixed size; the charts over time once a second, and no
chart more than 4 times a second), so a burst of events never turns into a burst of
redraws, and the drawing stays cheap beside the engine's child process.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, TypeVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from llm_loadtest.engine.events import EngineEvent
from llm_loadtest.engine.protocols import RunControl
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode
from llm_loadtest.model.results import RunResult
from llm_loadtest.report.gates import run_failures
from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.live_state import Change, LevelState, LiveRunState
from llm_loadtest.tui.screens.app_screen import AppScreen, tab_bindings
from llm_loadtest.tui.screens.dialogs import ConfirmDialog
from llm_loadtest.tui.widgets.charts import PALETTE, Chart, Series, show_errors_and_goodput
from llm_loadtest.tui.widgets.level_table import LevelTable

if TYPE_CHECKING:
    pass

W = TypeVar("W", bound=Widget)

TICK_S = 0.5  # the screen's refresh tick: the figures change twice a second
TIME_CHARTS_EVERY_S = 1.0  # the charts over time, once a second
QUIT_GRACE_S = 15.0
NO_GPU_YET = "No GPU reported: GPU telemetry needs an NVIDIA GPU and its driver here"
TABS = ("tab-throughput", "tab-latency", "tab-levels", "tab-errors", "tab-gpu", "tab-server")
CHIPS = {
    "done": ("✓", "green"),
    "aborted": ("■", fmt.STATUS_STYLES["aborted"]),
    "running": ("▶", "bold reverse dodger_blue1"),
    "pending": ("·", "dim"),
}


class LiveRunScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="live.back"),
        Binding("a", "abort", "Abort", id="live.abort"),
        Binding("v", "view_result", "View result", id="live.view-result"),
        *tab_bindings("live", ("Throughput", "Latency", "Levels", "Errors", "GPU", "Server")),
    ]

    AUTO_HEIGHT = ("#status-line",)

    def __init__(self, config: RunConfig, *, api_key: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.api_key = api_key
        self.controller: RunControl | None = None
        self.run_state = LiveRunState(config)
        self._quit_when_done = False
        self._shown: dict[str, Text] = {}
        self._deferred: set[Change] = set()  # drawn at a later tick
        self._time_charts_at = 0.0
        self._widgets: dict[str, Widget] = {}  # looked up once, not at every tick
        self._tabs_shown: set[str] = set()
        self._chips_shown: list[tuple[str, LevelState]] | None = None

    @property
    def drawn(self) -> bool:
        """Everything the state holds is on screen (no tick has anything left to draw)."""
        return not self.run_state.changed and not self._deferred

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="top"):
            yield Static(self._title_text(), id="run-title")
            yield Static("", id="progress")
            yield Static("", id="level-chips")
            yield Static("", id="figures")
            yield Static("", id="health")
            yield Static("", id="status-line")
        with TabbedContent(id="tabs"):
            with TabPane("1 Throughput", id="tab-throughput"):
                yield Chart("output tok/s over time (s)", id="chart-tput")
            with TabPane("2 Latency", id="tab-latency"):
                with Horizontal(classes="pair"):
                    yield Chart("TTFT ms over time (s)", id="chart-ttft")
                    yield Chart("ITL ms over time (s)", id="chart-itl")
            with TabPane("3 Levels", id="tab-levels"):
                yield LevelTable(id="level-table")
            with TabPane("4 Errors", id="tab-errors"):
                with Horizontal(classes="pair"):
                    yield Chart("error rate % by level", id="chart-errors")
                    yield Chart("goodput % by level", id="chart-goodput")
            with TabPane("5 GPU", id="tab-gpu"):
                yield Static(NO_GPU_YET, id="gpu-now", classes="now")
                with Horizontal(classes="pair", id="gpu-charts"):
                    yield Chart("GPU util %", id="chart-gpu-util")
                    yield Chart("GPU mem GiB", id="chart-gpu-mem")
                    yield Chart("GPU power W", id="chart-gpu-power")
            with TabPane("6 Server", id="tab-server"):
                yield Static("", id="server-now", classes="now")
                with Horizontal(classes="pair"):
                    yield Chart("requests running / waiting", id="chart-queue")
                    yield Chart("KV cache usage %", id="chart-kv")
        yield Footer()

    def _title_text(self) -> Text:
        c = self.config
        text = Text()
        text.append(self.run_state.model, style="bold")
        text.append(f" @ {fmt.host(c.server)}", style="dim")
        load = f"rate {fmt.levels_text(c.request_rate)}/s" if c.request_rate else f"c={fmt.levels_text(c.concurrency)}"
        stop = f"{c.duration:g} s/level" if c.duration else f"{c.num_prompts} req/level"
        text.append(f" · {load} · {stop} · in {c.input_len} / out {c.output_len}")
        if c.workers > 1:
            text.append(f" · {c.workers} client processes")
        if self.run_state.client_nodes > 1:
            text.append(f" on {self.run_state.client_nodes} nodes")
        if not c.stream:
            text.append("  (non-streaming: TTFT = E2E)", style="yellow")
        return text

    def on_mount(self) -> None:
        # the preset goes in the header: the title line holds 80 columns without it
        self.sub_title = f"Live run · preset {self.config.preset}" if self.config.preset else "Live run"
        tabs = self.query_one(TabbedContent)
        self._widgets["tabs"] = tabs
        # the GPU tab is always there (5 goes to it): until a GPU reports, it says there is none
        self._tabs_shown.add("tab-gpu")
        self.query_one("#gpu-charts").display = False
        tabs.hide_tab("tab-server")
        self.set_interval(TICK_S, self._tick)
        self._run()
        self._tick()

    # --- the engine ----------------------------------------------------------------------
    @work(exclusive=True, group="run")
    async def _run(self) -> None:
        try:
            self.controller = self.host.controller_factory(self.config, api_key=self.api_key, store=self.host.store)
            self.controller.subscribe(self.on_engine_event)
            self.run_state.started(self.controller.run_id)
            result = await self.controller.run()
        except asyncio.CancelledError:
            if self.controller is not None and self.run_state.phase == "running":
                self.controller.abort()
            raise
        except Exception as exc:  # noqa: BLE001 - RunStartError and anything else: shown, not raised
            exit_code = getattr(exc, "exit_code", ExitCode.FAILED)
            self._failed(str(exc) or exc.__class__.__name__, exit_code)
            return
        self._finished(result)

    def on_engine_event(self, event: EngineEvent) -> None:
        """The controller's listener: the state takes it; the tick draws it."""
        ended = self.run_state.phase in ("finished", "failed")
        self.run_state.take(event)
        if not ended:
            self._ended()

    def _finished(self, result: RunResult) -> None:
        if self.run_state.finish(result):
            self._ended()

    def _failed(self, message: str, exit_code: int) -> None:
        if self.run_state.fail(message, exit_code):
            self._ended()

    def _ended(self) -> None:
        """What the app does once the run is over, said once."""
        state = self.run_state
        if state.phase == "finished" and state.result is not None:
            code: int = ExitCode.of_status(state.result.status)
            self.notify(f"run {fmt.short_id(state.result.run_id)} {state.result.status}; press v to view the result", timeout=6)
        elif state.phase == "failed":
            code = state.exit_code if state.exit_code is not None else ExitCode.FAILED
        else:
            return
        self.host.run_exit_code = code
        if self._quit_when_done:
            self.call_later(self.app.exit, code)
        self.call_later(self._tick)  # the end shows at once, not at the next tick
        self.refresh_bindings()

    # --- drawing -------------------------------------------------------------------------
    def _widget(self, selector: str, kind: type[W]) -> W:
        widget = self._widgets.get(selector)
        if not isinstance(widget, kind):
            widget = self._widgets[selector] = self.query_one(selector, kind)
        return widget

    def _show_tab(self, tab_id: str) -> None:
        """Show a tab hidden until its data came; once (showing it again re-highlights the tabs)."""
        if tab_id not in self._tabs_shown:
            self._tabs_shown.add(tab_id)
            self._widget("tabs", TabbedContent).show_tab(tab_id)

    def _put(self, selector: str, content: Text | str) -> None:
        """Update a line only when its text changed. The lines have a fixed size (one row, the
        screen's width), so no update needs a new layout: a tick repaints a few rows."""
        text = content if isinstance(content, Text) else Text(content)
        if self._shown.get(selector) == text:
            return
        self._shown[selector] = text
        self._widget(selector, Static).update(text, layout=selector in self.AUTO_HEIGHT)

    def _tick(self) -> None:
        changes = self._deferred | self.run_state.take_changes()
        self._deferred = set()
        if not changes:
            return
        if "title" in changes:
            self._put("#run-title", self._title_text())
        self._show_progress()
        self._show_figures()
        self._show_status()
        if "time" in changes:
            now = time.monotonic()
            if now - self._time_charts_at >= TIME_CHARTS_EVERY_S or self.run_state.phase != "running":
                # the over-time charts are the costliest frames: once a second is plenty
                self._time_charts_at = now
                self._draw_time_charts()
            else:
                self._deferred.add("time")
        if "levels" in changes:
            self._draw_levels()
        if "gpu" in changes:
            self._draw_gpu()
        if "server" in changes:
            self._draw_server()

    def _show_progress(self) -> None:
        state = self.run_state
        chips = state.level_states()
        if chips != self._chips_shown:  # the chips change only when a level starts or ends
            self._chips_shown = chips
            text = Text()
            for label, level in chips:
                mark, style = CHIPS[level]
                text.append(f" {label} {mark} ", style=style)
            self._put("#level-chips", text)
        snap = state.snapshot
        line = Text()
        if snap is None:
            line.append(f"Level –/{len(state.level_labels)}", style="bold")
            if state.warmup_requests is not None and state.phase == "running":
                line.append(f"  warming up ({state.warmup_requests} requests, not measured)", style="bold yellow")
            else:
                line.append(f"  {state.phase}", style="dim")
            self._put("#progress", line)
            return
        line.append(f"Level {snap.level_index + 1}/{snap.n_levels} {snap.level_label}", style="bold")
        if state.level_state(snap.level_index) == "aborted":
            line.append(" (aborted)", style=fmt.STATUS_STYLES["aborted"])
        elif snap.phase != "running":
            line.append(f" ({snap.phase})", style="bold yellow")
        line.append("  ")
        line.append_text(fmt.bar(snap.fraction, 40 if self.size.width >= 100 else 20))
        done = f"{snap.completed}/{snap.target}" if snap.target else f"{snap.completed} done"
        budget = f"/{snap.level_duration_s:g}" if snap.level_duration_s else ""
        line.append(f"  {done} · {snap.level_elapsed_s:.1f}{budget} s", style="dim")
        self._put("#progress", line)

    def _show_figures(self) -> None:
        snap = self.run_state.snapshot
        text = Text()
        narrow = self.size.width < 100  # every figure must still fit on the line at 80 columns
        gap = "  " if narrow else "   "

        def item(name: str, wide_name: str, value: str, style: str = "bold") -> None:
            text.append(f"{name if narrow else wide_name} ", style="dim")
            text.append(value, style=style)
            text.append(gap)

        if snap is None:
            item("waiting for the first snapshot", "waiting for the first snapshot", "")
        else:
            item("tok/s", "out tok/s", fmt.figure_value("output_throughput", snap.output_throughput))
            item(
                "TTFT",
                "TTFT p50/p99",
                f"{fmt.figure_value('ttft_p50', snap.ttft_p50_ms)}/{fmt.figure_value('ttft_p99', snap.ttft_p99_ms)} ms",
            )
            item("ITL", "ITL p50/p99", f"{fmt.figure_value('itl_p50', snap.itl_p50_ms)}/{fmt.figure_value('itl_p99', snap.itl_p99_ms)} ms")
            item("flight", "in flight", str(snap.in_flight))
            errors = fmt.figure_value("error_rate", snap.error_rate, "%")
            item("err", "errors", f"{snap.failed} ({errors})", "bold red" if snap.failed else "bold")
        self._put("#figures", text)

        view = self.run_state.health()
        health = Text()
        health.append("● ", style="bold red" if view.distorted else "bold green")
        health.append("client distorts the figures" if view.distorted else "client OK", style="bold red" if view.distorted else "green")
        lag = fmt.figure_value("loop_lag_p99", view.loop_lag_p99_ms, " ms")
        health.append(f"  loop lag p99 {lag} · CPU {fmt.figure_value('cpu_percent', view.cpu_percent, '%')}", style="dim")
        if view.clock:
            health.append(f" · clock {view.clock}", style="dim")
        if view.warnings:
            health.append(f"  {view.warnings[-1]}", style="red")
        self._put("#health", health)

    def _show_status(self) -> None:
        state = self.run_state
        text: Text | None = None
        if state.phase == "failed":
            text = Text(f"✗ {state.message}", style="bold red")
        elif state.phase == "aborting":
            text = Text("aborting… finished requests are kept", style="bold dark_orange")
        elif state.phase == "finished" and state.result is not None:
            status = state.result.status
            style = fmt.STATUS_STYLES.get(status, "")
            # a failed run says why, as the headless command does on stderr
            said = run_failures(state.result)[0] if status == "failed" else f"run {status}"
            text = Text.assemble(
                ("✓ " if status == "completed" else "■ ", style), (said, style), ("  · v view result · escape back", "dim")
            )
        elif state.phase == "starting":
            text = Text("starting the engine…", style="dim")
        elif state.snapshot is not None and state.snapshot.errors:
            counts = state.snapshot.errors
            errors = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
            # why, in the words of the most frequent class's first failure
            why = state.snapshot.first_errors.get(max(counts, key=counts.__getitem__))
            text = Text(f"errors this level: {errors}" + (f" · {why}" if why else ""), style="red")
        line = self._widget("#status-line", Static)
        if line.display != (text is not None):
            line.display = text is not None
        if text is not None:
            self._put("#status-line", text)

    def _draw_time_charts(self) -> None:
        p = self.run_state.progress
        self._widget("#chart-tput", Chart).set_series([Series("output tok/s", p.t, p.values["tput"], PALETTE[0])])
        self._widget("#chart-ttft", Chart).set_series(
            [Series("p50", p.t, p.values["ttft_p50"], PALETTE[0]), Series("p99", p.t, p.values["ttft_p99"], PALETTE[1])]
        )
        self._widget("#chart-itl", Chart).set_series(
            [Series("p50", p.t, p.values["itl_p50"], PALETTE[0]), Series("p99", p.t, p.values["itl_p99"], PALETTE[1])]
        )

    def _draw_levels(self) -> None:
        finished = sorted(self.run_state.levels.items())
        table = self._widget("#level-table", LevelTable)
        for index, level in finished:
            table.add_level(index, level)
        levels = [level for _, level in finished]
        show_errors_and_goodput(self._widget("#chart-errors", Chart), self._widget("#chart-goodput", Chart), levels)

    def _draw_gpu(self) -> None:
        self._widget("#gpu-charts", Horizontal).display = True
        state = self.run_state
        util, mem, power = [], [], []
        for index, (gpu, series) in enumerate(sorted(state.gpu.items())):
            style = PALETTE[index % len(PALETTE)]
            util.append(Series(f"GPU{gpu}", series.t, series.values["util"], style))
            mem.append(Series(f"GPU{gpu}", series.t, series.values["mem_gib"], style))
            power.append(Series(f"GPU{gpu}", series.t, series.values["power"], style))
        self._widget("#chart-gpu-util", Chart).set_series(util)
        self._widget("#chart-gpu-mem", Chart).set_series(mem)
        self._widget("#chart-gpu-power", Chart).set_series(power)
        now = Text()
        for sample in state.latest_gpu:
            mem_text = (
                f"{sample.mem_used_mb / 1024:.1f}/{sample.mem_total_mb / 1024:.1f} GiB"
                if sample.mem_used_mb is not None and sample.mem_total_mb
                else fmt.DASH
            )
            now.append(f"GPU{sample.gpu} ", style="bold")
            now.append(f"{fmt.pct(sample.util, 0)} · {mem_text} · {fmt.num(sample.power_w, 0, ' W')}   ")
        self._put("#gpu-now", now)

    def _draw_server(self) -> None:
        self._show_tab("tab-server")
        s = self.run_state.server
        self._widget("#chart-queue", Chart).set_series(
            [Series("running", s.t, s.values["running"], PALETTE[0]), Series("waiting", s.t, s.values["waiting"], PALETTE[1])]
        )
        self._widget("#chart-kv", Chart).set_series([Series("KV cache %", s.t, s.values["kv"], PALETTE[2])])
        latest = self.run_state.latest_server
        if latest is not None:
            kv = None if latest.kv_cache_usage is None else latest.kv_cache_usage * 100
            self._put(
                "#server-now", f"running {fmt.num(latest.running, 0)} · waiting {fmt.num(latest.waiting, 0)} · KV cache {fmt.pct(kv)}"
            )

    # --- actions -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return self.run_state.can_abort
        if action == "view_result":
            return self.run_state.phase == "finished"
        return True

    def action_tab(self, index: int) -> None:
        tabs = self.query_one(TabbedContent)
        tab_id = TABS[index]
        if tabs.get_tab(tab_id).display:  # Server stays hidden until its metrics come
            tabs.active = tab_id

    @property
    def in_flight(self) -> bool:
        return self.run_state.in_flight

    def abort(self, *, then_quit: bool = False) -> None:
        """Stop the run; what finished is kept. With `then_quit`, leave the app once it is saved."""
        self._quit_when_done = self._quit_when_done or then_quit
        if self.run_state.request_abort():
            if self.controller is not None:
                self.controller.abort()
            self.refresh_bindings()
        if then_quit:
            if not self.in_flight:
                self.app.exit(self.host.run_exit_code)
            else:
                # the engine stops within its drain; do not wait forever for a stuck one
                self.set_timer(QUIT_GRACE_S, lambda: self.app.exit(self.host.run_exit_code))

    def action_abort(self) -> None:
        if not self.run_state.can_abort:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.abort()

        self.app.push_screen(
            ConfirmDialog(
                "Abort this run? Requests that finished are kept and the run is saved as aborted.", yes="Abort", no="Keep running"
            ),
            confirmed,
        )

    def action_back(self) -> None:
        if self.run_state.can_abort:
            self.action_abort()
        elif self.run_state.phase == "aborting":
            self.notify("the run is stopping; what was measured is being saved")
        else:
            self.app.pop_screen()

    def action_view_result(self) -> None:
        result = self.run_state.result
        if self.run_state.phase != "finished" or result is None:
            return
        from llm_loadtest.tui.screens.result_view import ResultScreen

        self.app.clear_notifications()  # "press v to view the result" is done with
        self.app.switch_screen(ResultScreen(result.run_id, result=result))

    def on_unmount(self) -> None:
        if self.controller is not None and self.run_state.can_abort:
            self.controller.abort()
