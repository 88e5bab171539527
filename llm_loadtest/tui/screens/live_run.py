"""Live run: the engine's snapshots as they come (2-4 Hz), charts over time and by level.

The engine runs its requests in a child process; its controller lives in this event loop (a
Textual worker). The listener only stores what arrives; a tick twice a second puts it on
screen (lines of fixed size; the charts over time once a second, and no chart more than 4
times a second), so a burst of events never turns into a burst of redraws, and the drawing
stays cheap beside the engine's child process.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from llm_loadtest.engine.events import (
    LevelFinished,
    LevelStarted,
    ProgressSnapshot,
    RunFailed,
    RunFinished,
    RunStarted,
    TelemetryUpdate,
    WarmupStarted,
)
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode
from llm_loadtest.model.results import GpuSample, LevelSummary, RunResult, ServerSample
from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.screens.dialogs import ConfirmDialog
from llm_loadtest.tui.widgets.charts import PALETTE, Chart, Series, show_errors_and_goodput
from llm_loadtest.tui.widgets.level_table import LevelTable

TICK_S = 0.5  # the screen's refresh tick: the figures change twice a second
TIME_CHARTS_EVERY_S = 1.0  # the charts over time, once a second
QUIT_GRACE_S = 15.0
TABS = ("tab-throughput", "tab-latency", "tab-levels", "tab-errors", "tab-gpu", "tab-server")


class _Series:
    """Plain lists the listener appends to (cheap), read by the tick."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.values: dict[str, list[float]] = defaultdict(list)

    def add(self, t: float, **values: float | None) -> None:
        self.t.append(t)
        for name, value in values.items():
            self.values[name].append(float("nan") if value is None else float(value))


class LiveRunScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="live.back"),
        Binding("a", "abort", "Abort", id="live.abort"),
        Binding("v", "view_result", "View result", id="live.view-result"),
        Binding("1", "tab(0)", "Throughput", show=False, id="live.tab-throughput"),
        Binding("2", "tab(1)", "Latency", show=False, id="live.tab-latency"),
        Binding("3", "tab(2)", "Levels", show=False, id="live.tab-levels"),
        Binding("4", "tab(3)", "Errors", show=False, id="live.tab-errors"),
        Binding("5", "tab(4)", "GPU", show=False, id="live.tab-gpu"),
        Binding("6", "tab(5)", "Server", show=False, id="live.tab-server"),
    ]

    AUTO_HEIGHT = ("#status-line",)

    def __init__(self, config: RunConfig, *, api_key: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.api_key = api_key
        self.controller: Any = None
        self.run_id: str | None = None
        self.state = "starting"  # starting | running | aborting | finished | failed
        self.result: RunResult | None = None
        self.message: str | None = None
        # what the listener stores
        self.snapshot: ProgressSnapshot | None = None
        self.progress = _Series()
        self.levels: dict[int, LevelSummary] = {}
        self.level_labels = [spec.label for spec in config.levels()]
        self.level_state: dict[int, str] = {}
        self.gpu: dict[int, _Series] = {}
        self.server = _Series()
        self.latest_gpu: list[GpuSample] = []
        self.latest_server: ServerSample | None = None
        self.events_seen = 0
        self.warmup_requests: int | None = None  # set while the warm-up runs
        self.model = config.model
        self._title_dirty = False
        self._shown: dict[str, Text] = {}
        self._quit_when_done = False
        self._dirty = True
        self._charts_dirty: set[str] = set()
        self._time_charts_at = 0.0
        self._widgets: dict[str, Any] = {}  # looked up once, not at every tick
        self._tabs_shown: set[str] = set()
        self._chips_key: tuple[str | None, ...] | None = None

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
                yield Static("", id="gpu-now", classes="now")
                with Horizontal(classes="pair"):
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
        text.append(self.model, style="bold")
        text.append(f" @ {c.server}", style="dim")
        load = f"rate {fmt.levels_text(c.request_rate)}/s" if c.request_rate else f"c={fmt.levels_text(c.concurrency)}"
        stop = f"{c.duration:g} s/level" if c.duration else f"{c.num_prompts} req/level"
        text.append(f"  ·  {load} · {stop} · in {c.input_len} / out {c.output_len}")
        if c.workers > 1:
            text.append(f" · {c.workers} client processes")
        if c.preset:
            text.append(f" · preset {c.preset}", style="dim")
        if not c.stream:
            text.append("  (non-streaming: TTFT = E2E)", style="yellow")
        return text

    def on_mount(self) -> None:
        self.sub_title = "Live run"
        tabs = self.query_one(TabbedContent)
        self._widgets["tabs"] = tabs
        tabs.hide_tab("tab-gpu")
        tabs.hide_tab("tab-server")
        self.set_interval(TICK_S, self._tick)
        self._run()
        self._tick()

    # --- the engine ----------------------------------------------------------------------
    @work(exclusive=True, group="run")
    async def _run(self) -> None:
        try:
            self.controller = self.app.controller_factory(self.config, api_key=self.api_key, store=self.app.store)
            self.run_id = getattr(self.controller, "run_id", None)
            self.controller.subscribe(self.on_engine_event)
            self.state = "running"
            self._dirty = True
            result = await self.controller.run()
        except asyncio.CancelledError:
            if self.controller is not None and self.state == "running":
                self.controller.abort()
            raise
        except Exception as exc:  # noqa: BLE001 - RunStartError and anything else: shown, not raised
            exit_code = getattr(exc, "exit_code", ExitCode.FAILED)
            self._failed(str(exc) or exc.__class__.__name__, exit_code)
            return
        self._finished(result)

    def on_engine_event(self, event: Any) -> None:
        """The controller's listener: store, mark dirty, return quickly."""
        self.events_seen += 1
        if isinstance(event, ProgressSnapshot):
            self.snapshot = event
            self.progress.add(
                event.t,
                tput=event.output_throughput,
                ttft_p50=event.ttft_p50_ms,
                ttft_p99=event.ttft_p99_ms,
                itl_p50=event.itl_p50_ms,
                itl_p99=event.itl_p99_ms,
            )
            self.level_state.setdefault(event.level_index, "running")
            self._charts_dirty.add("time")
        elif isinstance(event, LevelStarted):
            self.level_state[event.level_index] = "running"
            self.warmup_requests = None
        elif isinstance(event, WarmupStarted):
            self.warmup_requests = event.requests
        elif isinstance(event, RunStarted):
            self.model = event.model
            self._title_dirty = True
        elif isinstance(event, LevelFinished):
            self.levels[event.level_index] = event.summary
            self.level_state[event.level_index] = "done"
            self._charts_dirty.add("levels")
        elif isinstance(event, RunFinished):
            self._finished(event.result)
        elif isinstance(event, RunFailed):
            self._failed(event.message, event.exit_code)
        elif isinstance(event, TelemetryUpdate):
            self._telemetry(event.gpu or [], event.server)
        self._dirty = True

    def _telemetry(self, gpus: list[GpuSample], server: ServerSample | None) -> None:
        if gpus:
            self.latest_gpu = list(gpus)
            for sample in gpus:
                self.gpu.setdefault(sample.gpu, _Series()).add(
                    sample.t,
                    util=sample.util,
                    mem_gib=None if sample.mem_used_mb is None else sample.mem_used_mb / 1024,
                    power=sample.power_w,
                )
            self._charts_dirty.add("gpu")
        if server is not None:
            self.latest_server = server
            self.server.add(
                server.t,
                running=server.running,
                waiting=server.waiting,
                kv=None if server.kv_cache_usage is None else server.kv_cache_usage * 100,
            )
            self._charts_dirty.add("server")

    def _finished(self, result: RunResult) -> None:
        if self.state == "finished":
            return
        if self._quit_when_done:
            self.call_later(self.app.exit, ExitCode.of_status(result.status))
        self.result = result
        self.run_id = result.run_id
        for index, level in enumerate(result.levels):
            self.levels.setdefault(index, level)
            self.level_state[index] = "done"
        self._charts_dirty.add("levels")
        self.state = "finished"
        self.app.run_exit_code = ExitCode.of_status(result.status)
        self._dirty = True
        self.call_later(self._tick)  # the end shows at once, not at the next tick
        self.refresh_bindings()
        self.notify(f"run {fmt.short_id(result.run_id)} {result.status}; press v to view the result", timeout=6)

    def _failed(self, message: str, exit_code: int) -> None:
        if self.state in ("finished", "failed"):
            return
        if self._quit_when_done:
            self.call_later(self.app.exit, exit_code)
        self.state = "failed"
        self.message = message
        self.app.run_exit_code = exit_code
        self._dirty = True
        self.call_later(self._tick)
        self.refresh_bindings()

    # --- drawing -------------------------------------------------------------------------
    def _widget(self, selector: str, kind: type[Any] = Static) -> Any:
        widget = self._widgets.get(selector)
        if widget is None:
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
        self._widget(selector).update(text, layout=selector in self.AUTO_HEIGHT)

    def _tick(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self._title_dirty:
            self._title_dirty = False
            self._put("#run-title", self._title_text())
        self._show_progress()
        self._show_figures()
        self._show_status()
        dirty = self._charts_dirty
        now = time.monotonic()
        if "time" in dirty and (now - self._time_charts_at >= TIME_CHARTS_EVERY_S or self.state != "running"):
            # the over-time charts are the costliest frames: once a second is plenty
            self._time_charts_at = now
            dirty.discard("time")
            self._draw_time_charts()
        elif "time" in dirty:
            self._dirty = True  # draw them at a later tick
        if "levels" in dirty:
            dirty.discard("levels")
            self._draw_levels()
        if "gpu" in dirty:
            dirty.discard("gpu")
            self._draw_gpu()
        if "server" in dirty:
            dirty.discard("server")
            self._draw_server()

    def _show_progress(self) -> None:
        snap = self.snapshot
        n = len(self.level_labels)
        chips_key = tuple(self.level_state.get(index) for index in range(n))
        if chips_key != self._chips_key:  # the chips change only when a level starts or ends
            self._chips_key = chips_key
            chips = Text()
            for label, state in zip(self.level_labels, chips_key):
                if state == "done":
                    chips.append(f" {label} ✓ ", style="green")
                elif state == "running":
                    chips.append(f" {label} ▶ ", style="bold reverse dodger_blue1")
                else:
                    chips.append(f" {label} · ", style="dim")
            self._put("#level-chips", chips)
        line = Text()
        if snap is None:
            line.append(f"Level –/{n}", style="bold")
            if self.warmup_requests is not None and self.state == "running":
                line.append(f"  warming up ({self.warmup_requests} requests, not measured)", style="bold yellow")
            else:
                line.append(f"  {self.state}", style="dim")
            self._put("#progress", line)
            return
        line.append(f"Level {snap.level_index + 1}/{snap.n_levels} {snap.level_label}", style="bold")
        if snap.phase != "running":
            line.append(f" ({snap.phase})", style="bold yellow")
        line.append("  ")
        line.append_text(fmt.bar(snap.fraction, 40 if self.size.width >= 100 else 20))
        done = f"{snap.completed}/{snap.target}" if snap.target else f"{snap.completed} done"
        budget = f"/{snap.level_duration_s:g}" if snap.level_duration_s else ""
        line.append(f"  {done} · {snap.level_elapsed_s:.1f}{budget} s", style="dim")
        self._put("#progress", line)

    def _show_figures(self) -> None:
        snap = self.snapshot
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

        health = Text()
        client = snap.client if snap else None
        if snap is not None and snap.level_index in self.levels:  # finished: its stored health
            client = self.levels[snap.level_index].client
        lag = client.loop_lag_ms.p99 if client else None
        cpu = client.cpu_percent if client else None
        warnings = [w for level in self.levels.values() if level.client for w in level.client.warnings]
        if client is not None and snap is not None and snap.level_index not in self.levels:
            warnings += client.warnings
        bad = bool(warnings)
        health.append("● ", style="bold red" if bad else "bold green")
        health.append("client distorts the figures" if bad else "client OK", style="bold red" if bad else "green")
        health.append(
            f"  loop lag p99 {fmt.figure_value('loop_lag_p99', lag, ' ms')} · CPU {fmt.figure_value('cpu_percent', cpu, '%')}", style="dim"
        )
        if warnings:
            health.append(f"  {warnings[-1]}", style="red")
        self._put("#health", health)

    def _show_status(self) -> None:
        text: Text | None = None
        if self.state == "failed":
            text = Text(f"✗ {self.message}", style="bold red")
        elif self.state == "aborting":
            text = Text("aborting… finished requests are kept", style="bold dark_orange")
        elif self.state == "finished" and self.result is not None:
            status = self.result.status
            style = fmt.STATUS_STYLES.get(status, "")
            text = Text.assemble(
                ("✓ " if status == "completed" else "■ ", style), (f"run {status}", style), ("  · v view result · escape back", "dim")
            )
        elif self.state == "starting":
            text = Text("starting the engine…", style="dim")
        elif self.snapshot is not None and self.snapshot.errors:
            errors = ", ".join(f"{name} {count}" for name, count in sorted(self.snapshot.errors.items()))
            text = Text(f"errors this level: {errors}", style="red")
        line = self._widget("#status-line")
        if line.display != (text is not None):
            line.display = text is not None
        if text is not None:
            self._put("#status-line", text)

    def _draw_time_charts(self) -> None:
        p = self.progress
        self._widget("#chart-tput", Chart).set_series([Series("output tok/s", p.t, p.values["tput"], PALETTE[0])])
        self._widget("#chart-ttft", Chart).set_series(
            [Series("p50", p.t, p.values["ttft_p50"], PALETTE[0]), Series("p99", p.t, p.values["ttft_p99"], PALETTE[1])]
        )
        self._widget("#chart-itl", Chart).set_series(
            [Series("p50", p.t, p.values["itl_p50"], PALETTE[0]), Series("p99", p.t, p.values["itl_p99"], PALETTE[1])]
        )

    def _draw_levels(self) -> None:
        indexes = sorted(self.levels)
        levels = [self.levels[i] for i in indexes]
        table = self._widget("#level-table", LevelTable)
        for index in indexes:
            table.add_level(index, self.levels[index])
        show_errors_and_goodput(self._widget("#chart-errors", Chart), self._widget("#chart-goodput", Chart), levels)

    def _draw_gpu(self) -> None:
        self._show_tab("tab-gpu")
        util, mem, power = [], [], []
        for index, (gpu, series) in enumerate(sorted(self.gpu.items())):
            style = PALETTE[index % len(PALETTE)]
            util.append(Series(f"GPU{gpu}", series.t, series.values["util"], style))
            mem.append(Series(f"GPU{gpu}", series.t, series.values["mem_gib"], style))
            power.append(Series(f"GPU{gpu}", series.t, series.values["power"], style))
        self._widget("#chart-gpu-util", Chart).set_series(util)
        self._widget("#chart-gpu-mem", Chart).set_series(mem)
        self._widget("#chart-gpu-power", Chart).set_series(power)
        now = Text()
        for sample in self.latest_gpu:
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
        s = self.server
        self._widget("#chart-queue", Chart).set_series(
            [Series("running", s.t, s.values["running"], PALETTE[0]), Series("waiting", s.t, s.values["waiting"], PALETTE[1])]
        )
        self._widget("#chart-kv", Chart).set_series([Series("KV cache %", s.t, s.values["kv"], PALETTE[2])])
        latest = self.latest_server
        if latest is not None:
            kv = None if latest.kv_cache_usage is None else latest.kv_cache_usage * 100
            self._put(
                "#server-now", f"running {fmt.num(latest.running, 0)} · waiting {fmt.num(latest.waiting, 0)} · KV cache {fmt.pct(kv)}"
            )

    # --- actions -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return self.state in ("starting", "running")
        if action == "view_result":
            return self.state == "finished"
        return True

    def action_tab(self, index: int) -> None:
        tabs = self.query_one(TabbedContent)
        tab_id = TABS[index]
        if tabs.get_tab(tab_id).display:  # GPU and Server stay hidden until seen
            tabs.active = tab_id

    @property
    def in_flight(self) -> bool:
        return self.state in ("starting", "running", "aborting")

    def abort(self, *, then_quit: bool = False) -> None:
        """Stop the run; what finished is kept. With `then_quit`, leave the app once it is saved."""
        self._quit_when_done = self._quit_when_done or then_quit
        if self.state in ("starting", "running"):
            self.state = "aborting"
            self._dirty = True
            if self.controller is not None:
                self.controller.abort()
            self.refresh_bindings()
        if then_quit:
            if not self.in_flight:
                self.app.exit(self.app.run_exit_code)
            else:
                # the engine stops within its drain; do not wait forever for a stuck one
                self.set_timer(QUIT_GRACE_S, lambda: self.app.exit(self.app.run_exit_code))

    def action_abort(self) -> None:
        if self.state not in ("starting", "running"):
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
        if self.state in ("starting", "running"):
            self.action_abort()
        elif self.state == "aborting":
            self.notify("the run is stopping; what was measured is being saved")
        else:
            self.app.pop_screen()

    def action_view_result(self) -> None:
        if self.state != "finished" or self.result is None:
            return
        from llm_loadtest.tui.screens.result_view import ResultScreen

        self.app.switch_screen(ResultScreen(self.result.run_id, result=self.result))

    def on_unmount(self) -> None:
        if self.controller is not None and self.state in ("starting", "running"):
            self.controller.abort()
