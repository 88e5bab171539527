"""Compare: up to five runs, their key figures side by side and by-level charts with a legend."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.report.presentation import Figure
from llm_loadtest.report.regression import workload_differences
from llm_loadtest.tui import figures
from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.screens.app_screen import AppScreen, tab_bindings
from llm_loadtest.tui.widgets.charts import PALETTE, Chart, Series
from llm_loadtest.tui.widgets.run_table import RunTable

MAX_RUNS = 5
TABS = ("tab-pick", "tab-figures", "tab-tput", "tab-latency")
# the widget each tab's key puts the keyboard in (None: a chart, which takes no focus)
TAB_FOCUS = {"tab-pick": "#pick", "tab-figures": "#figures", "tab-tput": None, "tab-latency": None}
LABEL_WIDTH = 13  # the Figures tab's row titles; 5 runs of 11 characters beside them fit in 80 columns


def _level_key(level: LevelSummary) -> tuple[int, float]:
    return (0 if level.request_rate is None else 1, fmt.level_x(level))


def _latency_title(metric: Figure) -> str:
    return f"{metric.label} (ms) by level"


def fit(text: str | Text, width: int) -> Text:
    """A cell cut to `width` with an ellipsis, so that every run's column stays on screen."""
    cell = Text(text) if isinstance(text, str) else text.copy()
    cell.truncate(max(width, 1), overflow="ellipsis")
    return cell


def workload_warning(results: list[RunResult]) -> str:
    """One line when the runs did not run the same workload (the CLI refuses to gate them)."""
    if len(results) < 2:
        return ""
    baseline = results[0]
    differing = [(r, d) for r in results[1:] if (d := workload_differences(baseline.config, r.config))]
    if not differing:
        return ""
    what = "; ".join(f"{fmt.short_id(r.run_id)} {', '.join(d)}" for r, d in differing)
    return f"⚠ not the same workload, not like for like (against {fmt.short_id(baseline.run_id)}: {what})"


class CompareScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back", id="compare.back"),
        Binding("space", "mark", "Mark run", id="compare.mark"),
        Binding("m", "next_metric", "Latency metric", id="compare.next-metric"),
        *tab_bindings("compare", ("Runs", "Figures", "Throughput", "Latency")),
    ]

    def __init__(self, run_ids: list[str] | None = None) -> None:
        super().__init__()
        self.initial = list(run_ids or [])[:MAX_RUNS]
        self.results: dict[str, RunResult] = {}
        self.metric_index = 0

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="workload-warning", classes="warning-line")
        with TabbedContent(id="tabs"):
            with TabPane("1 Runs", id="tab-pick"):
                yield Static(f"space marks a run (up to {MAX_RUNS}); 2-4 show the comparison", classes="hint")
                yield RunTable(["mark", "id", "started", "status", "model", "server", "best"], id="pick")
            with TabPane("2 Figures", id="tab-figures"):
                yield DataTable(id="figures", cursor_type="row", zebra_stripes=True, fixed_columns=1)
            with TabPane("3 Throughput", id="tab-tput"):
                yield Chart("output tok/s by level", id="cmp-tput")
            with TabPane("4 Latency", id="tab-latency"):
                yield Chart(_latency_title(figures.LATENCY_METRICS[0]), id="cmp-latency")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Compare"
        store = self.host.store
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
            store = self.host.store
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
        warning = self.query_one("#workload-warning", Static)
        warning.update(text := workload_warning(results))
        warning.display = bool(text)
        if not results:
            return
        # every run's column on screen: a cell is cut (with an ellipsis) rather than a run;
        # the row titles stay put when the table scrolls sideways
        width = table.size.width or self.app.size.width
        padding = 2 * table.cell_padding
        cell_width = max(8, (width - LABEL_WIDTH - padding - 2) // len(results) - padding)

        def row(title: str, cells: Sequence[str | Text]) -> None:
            table.add_row(Text(title, style="bold"), *(fit(cell, cell_width) for cell in cells))

        def level_of(level: LevelSummary | None, value: str) -> str:
            return level.label if level is not None and value != fmt.DASH else fmt.DASH

        started = "%Y-%m-%d %H:%M" if cell_width >= 16 else "%Y-%m-%d"
        row("Model", [r.config.model for r in results])
        row("Server", [fmt.host(r.config.server) for r in results])
        row("Started", [r.started_at.astimezone().strftime(started) if r.started_at else fmt.DASH for r in results])
        row("Status", [fmt.status_text(r.status) for r in results])
        row("Preset", [r.config.preset or fmt.DASH for r in results])
        row("Levels", [", ".join(lv.label for lv in r.levels) or fmt.DASH for r in results])
        row("In/out tokens", [f"{r.config.input_len} / {r.config.output_len}" for r in results])
        bests = [figures.best_throughput_level(r) for r in results]
        best_tput = [fmt.figure("output_throughput", b) for b in bests]
        row("Best tok/s", best_tput)
        row("  at level", [level_of(b, v) for b, v in zip(bests, best_tput)])
        row("  req/s", [fmt.figure("request_rate_achieved", b) for b in bests])
        row("  ITL/tok p50", [fmt.figure("itl_per_token_p50", b, " ms") for b in bests])
        row("  E2E p50", [fmt.figure("e2e_p50", b, " ms") for b in bests])
        ttfts = [figures.best_ttft_level(r) for r in results]
        best_ttft = [fmt.figure("ttft_p50", t, " ms") for t in ttfts]
        row("Best TTFT p50", best_ttft)
        row("  at level", [level_of(t, v) for t, v in zip(ttfts, best_ttft)])
        worst = [figures.worst_error_level(r) for r in results]
        worst_errors = [fmt.figure("error_rate", w, "%") for w in worst]
        row("Worst errors", worst_errors)
        row("  at level", [level_of(w, v) for w, v in zip(worst, worst_errors)])
        goods = [figures.best_goodput_level(r) for r in results]
        best_goodput = [fmt.figure("goodput", g, "%") for g in goods]
        row("Best goodput", best_goodput)
        row("  at level", [level_of(g, v) for g, v in zip(goods, best_goodput)])

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
            # named in the chart's bottom border: with more than two runs, by id only (the
            # Figures tab's columns, in the same colours, give the models)
            name = fmt.short_id(result.run_id) if len(results) > 2 else f"{fmt.short_id(result.run_id)} {result.config.model}"[:28]
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
        if (target := TAB_FOCUS[TABS[index]]) is not None:
            self.query_one(target).focus()

    def on_resize(self) -> None:
        # the Figures tab's cells are cut to the width
        if self.is_mounted and self.marked:
            self._fill_figures(self.compared())

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
