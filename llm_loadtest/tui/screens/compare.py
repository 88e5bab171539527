"""Compare: up to five runs, their key figures side by side and by-level charts with a legend."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.report.presentation import Figure
from llm_loadtest.tui import figures
from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.widgets.charts import PALETTE, Chart, Series
from llm_loadtest.tui.widgets.run_table import RunTable

MAX_RUNS = 5
TABS = ("tab-pick", "tab-figures", "tab-tput", "tab-latency")


def _level_key(level: LevelSummary) -> tuple[int, float]:
    return (0 if level.request_rate is None else 1, fmt.level_x(level))


def _latency_title(metric: Figure) -> str:
    return f"{metric.label} (ms) by level"


class CompareScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("space", "mark", "Mark run"),
        Binding("m", "next_metric", "Latency metric"),
        Binding("1", "tab(0)", "Runs", show=False),
        Binding("2", "tab(1)", "Figures", show=False),
        Binding("3", "tab(2)", "Throughput", show=False),
        Binding("4", "tab(3)", "Latency", show=False),
    ]

    def __init__(self, run_ids: list[str] | None = None) -> None:
        super().__init__()
        self.initial = list(run_ids or [])[:MAX_RUNS]
        self.results: dict[str, RunResult] = {}
        self.metric_index = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with TabbedContent(id="tabs"):
            with TabPane("1 Runs", id="tab-pick"):
                yield Static(f"space marks a run (up to {MAX_RUNS}); 2-4 show the comparison", classes="hint")
                yield RunTable(["mark", "id", "started", "status", "model", "server", "best"], id="pick")
            with TabPane("2 Figures", id="tab-figures"):
                yield DataTable(id="figures", cursor_type="row", zebra_stripes=True)
            with TabPane("3 Throughput", id="tab-tput"):
                yield Chart("output tok/s by level", legend="plot", id="cmp-tput")
            with TabPane("4 Latency", id="tab-latency"):
                yield Chart(_latency_title(figures.LATENCY_METRICS[0]), legend="plot", id="cmp-latency")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Compare"
        store = self.app.store
        rows = store.list_runs() if store is not None else []
        table = self.query_one("#pick", RunTable)
        table.sync(rows)
        for run_id in self.initial:
            table.toggle_mark(run_id, limit=MAX_RUNS)
        self.update_comparison()
        table.focus()
        if len(table.marked) >= 2:
            self.call_after_refresh(self.action_tab, 1)

    # --- data ----------------------------------------------------------------------------
    @property
    def marked(self) -> list[str]:
        return list(self.query_one("#pick", RunTable).marked)

    def _result(self, run_id: str) -> RunResult | None:
        if run_id not in self.results:
            store = self.app.store
            try:
                result = store.get_result(run_id) if store is not None else None
            except Exception as exc:  # noqa: BLE001 - a run deleted meanwhile
                self.notify(f"cannot load {fmt.short_id(run_id)}: {exc}", severity="error")
                return None
            if result is None:
                return None
            self.results[run_id] = result
        return self.results[run_id]

    def compared(self) -> list[RunResult]:
        return [r for r in (self._result(run_id) for run_id in self.marked) if r is not None]

    def update_comparison(self) -> None:
        results = self.compared()
        self._fill_figures(results)
        self._draw_charts(results)

    def _fill_figures(self, results: list[RunResult]) -> None:
        table = self.query_one("#figures", DataTable)
        table.clear(columns=True)
        table.add_column("", key="what")
        for index, result in enumerate(results):
            table.add_column(Text(fmt.short_id(result.run_id), style=f"bold {PALETTE[index % len(PALETTE)]}"), key=result.run_id)
        if not results:
            return

        def row(title: str, cells: list[object]) -> None:
            table.add_row(Text(title, style="bold"), *cells)

        def at(level: LevelSummary | None, value: str) -> str:
            return f"{value} @ {level.label}" if level is not None and value != fmt.DASH else value

        row("Model", [r.config.model for r in results])
        row("Server", [r.config.server.removeprefix("http://").removeprefix("https://") for r in results])
        row("Started", [fmt.when(r.started_at) for r in results])
        row("Status", [fmt.status_text(r.status) for r in results])
        row("Preset", [r.config.preset or fmt.DASH for r in results])
        row("Levels", [", ".join(lv.label for lv in r.levels) or fmt.DASH for r in results])
        row("In / out tokens", [f"{r.config.input_len} / {r.config.output_len}" for r in results])
        bests = [figures.best_throughput_level(r) for r in results]
        row("Best out tok/s", [at(b, fmt.figure("output_throughput", b)) for b in bests])
        row("Req/s at best", [fmt.figure("request_rate_achieved", b) for b in bests])
        ttfts = [figures.best_ttft_level(r) for r in results]
        row("Best TTFT p50 ms", [at(t, fmt.figure("ttft_p50", t)) for t in ttfts])
        row("ITL/tok p50 at best", [fmt.figure("itl_per_token_p50", b) for b in bests])
        row("E2E p50 at best", [fmt.figure("e2e_p50", b) for b in bests])
        worst = [figures.worst_error_level(r) for r in results]
        row("Worst error rate", [at(w, fmt.figure("error_rate", w, "%")) for w in worst])
        goods = [figures.best_goodput_level(r) for r in results]
        row("Best goodput", [at(g, fmt.figure("goodput", g, "%")) for g in goods])

    def _draw_charts(self, results: list[RunResult]) -> None:
        by_label: dict[str, tuple[int, float]] = {}
        for result in results:
            for level in result.levels:
                by_label.setdefault(level.label, _level_key(level))
        categories = sorted(by_label, key=by_label.__getitem__)
        position = {label: float(i + 1) for i, label in enumerate(categories)}
        metric = figures.LATENCY_METRICS[self.metric_index]
        tput: list[Series] = []
        latency: list[Series] = []
        for index, result in enumerate(results):
            style = PALETTE[index % len(PALETTE)]
            name = f"{fmt.short_id(result.run_id)} {result.config.model}"[:28]
            levels = sorted(result.levels, key=_level_key)
            xs = [position[lv.label] for lv in levels]
            tput.append(Series(name, xs, [lv.output_throughput for lv in levels], style, "linepoints"))
            latency.append(Series(name, xs, [metric.value(lv) for lv in levels], style, "linepoints"))
        self.query_one("#cmp-tput", Chart).set_series(tput, categories=categories)
        chart = self.query_one("#cmp-latency", Chart)
        chart.border_title = f"{_latency_title(metric)}  (m: next metric)"
        chart.set_series(latency, categories=categories)

    # --- actions -------------------------------------------------------------------------
    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]

    def action_mark(self) -> None:
        table = self.query_one("#pick", RunTable)
        run_id = table.current_run_id
        if run_id is None:
            return
        if not table.toggle_mark(run_id, limit=MAX_RUNS):
            self.notify(f"compare takes up to {MAX_RUNS} runs; unmark one first", severity="warning")
            return
        self.update_comparison()

    def action_next_metric(self) -> None:
        self.metric_index = (self.metric_index + 1) % len(figures.LATENCY_METRICS)
        self._draw_charts(self.compared())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "pick":
            event.stop()
            self.action_mark()
