"""Result view: summary cards, by-concurrency charts, the per-level table, export."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from llm_loadtest.model.results import RunResult
from llm_loadtest.report.presentation import clock_lines
from llm_loadtest.tui import figures
from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.screens.app_screen import AppScreen, tab_bindings
from llm_loadtest.tui.screens.dialogs import ExportDialog
from llm_loadtest.tui.widgets.cards import Card, CardRow
from llm_loadtest.tui.widgets.charts import PALETTE, Chart, Series, show_errors_and_goodput
from llm_loadtest.tui.widgets.level_table import LevelTable

TABS = ("tab-perf", "tab-quality", "tab-table")
LATENCY_LINES = [figures.LATENCY_METRICS[0], figures.LATENCY_METRICS[1], figures.LATENCY_METRICS[2]]


def write_export(result: RunResult, fmt_name: str, path: Path, store: object | None) -> Path:
    """Write one export with the exporters of `llm_loadtest.export`."""
    from llm_loadtest import export

    path.parent.mkdir(parents=True, exist_ok=True)
    export.write_export(result, fmt_name, path, export.export_records(store, result.run_id, fmt_name))
    return path


class ResultScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back", id="result.back"),
        Binding("e", "export", "Export", id="result.export"),
        *tab_bindings("result", ("Charts", "Errors", "Table")),
    ]

    def __init__(self, run_id: str, *, result: RunResult | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.result = result
        self.exported: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="result"):
            yield Static("", id="result-title")
            yield CardRow(
                [
                    ("card-tput", "Out tok/s"),
                    ("card-ttft", "TTFT p50"),
                    ("card-level", "Best load"),
                    ("card-errors", "Errors"),
                    ("card-goodput", "Goodput"),
                ],
                two_line=True,
                id="cards",
            )
            yield Static("", id="warnings")
            with TabbedContent(id="tabs"):
                with TabPane("1 Throughput & latency", id="tab-perf"):
                    yield Chart("output tok/s by level", id="by-tput")
                    yield Chart("latency ms by level", id="by-latency")
                with TabPane("2 Errors & goodput", id="tab-quality"):
                    with Horizontal(classes="pair"):
                        yield Chart("error rate % by level", id="by-errors")
                        yield Chart("goodput % by level", id="by-goodput")
                with TabPane("3 Levels", id="tab-table"):
                    yield LevelTable(id="levels")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Result {fmt.short_id(self.run_id)}"
        if self.result is None:
            store = self.host.store
            try:
                self.result = store.get_result(self.run_id) if store is not None else None
            except Exception as exc:  # noqa: BLE001 - a missing or unreadable run
                self.notify(f"cannot load run {self.run_id}: {exc}", severity="error")
        if self.result is not None:
            self.show_result(self.result)

    def show_result(self, result: RunResult) -> None:
        c = result.config
        # the run's id and preset are in the header: the title line holds 80 columns without them
        self.sub_title = f"Result {fmt.short_id(result.run_id)}" + (f" · preset {c.preset}" if c.preset else "")
        title = Text()
        title.append_text(fmt.status_text(result.status))
        title.append(f"  {c.model}", style="bold")
        title.append(f" @ {fmt.host(c.server)} · {fmt.when(result.started_at)}", style="dim")
        self.query_one("#result-title", Static).update(title)

        best = figures.best_throughput_level(result)
        self.query_one("#card-tput", Card).show(fmt.figure("output_throughput", best), f"best @ {best.label}" if best else "")
        ttft_level = figures.best_ttft_level(result)
        self.query_one("#card-ttft", Card).show(
            fmt.figure("ttft_p50", ttft_level, " ms"), f"best @ {ttft_level.label}" if ttft_level else ""
        )
        self.query_one("#card-level", Card).show(best.label if best else fmt.DASH, "by tok/s" if best else "")
        worst = figures.worst_error_level(result)
        worst_rate = worst.error_rate if worst else None
        self.query_one("#card-errors", Card).show(
            fmt.figure("error_rate", worst, "%"),
            f"worst @ {worst.label}" if worst and worst_rate else "all levels",
            style="red" if worst_rate else "green",
        )
        if c.goodput is None or c.goodput.is_empty():
            self.query_one("#card-goodput", Card).show(fmt.DASH, "no SLO given", style="dim")
        else:
            good = figures.best_goodput_level(result)
            self.query_one("#card-goodput", Card).show(fmt.figure("goodput", good, "%"), f"best @ {good.label}" if good else "")

        # the engine copies each level's client warnings into the run's, labelled
        warnings = result.warnings or [w for lv in result.levels if lv.client for w in lv.client.warnings]
        notes = []
        if result.search is not None and result.search.answer is not None:  # a recommend run: its answer heads the view
            notes.append(Text(result.search.answer.headline, style="bold"))
        if not c.stream:
            notes.append(Text("non-streaming: TTFT = E2E; TPOT and ITL are absent", style="yellow"))
        for warning in warnings:
            notes.append(Text(f"⚠ {warning}", style="bold red"))
        notes += [Text(note, style="dim") for note in [*clock_lines(result.levels), *result.notes]]
        line = self.query_one("#warnings", Static)
        line.update(Text("\n").join(notes))
        line.display = bool(notes)

        self.query_one("#levels", LevelTable).set_levels(result.levels)
        categories = [level.label for level in result.levels]
        xs = [float(i + 1) for i in range(len(result.levels))]
        levels = result.levels
        self.query_one("#by-tput", Chart).set_series(
            [Series("output tok/s", xs, [lv.output_throughput for lv in levels], PALETTE[0], "linepoints")], categories=categories
        )
        self.query_one("#by-latency", Chart).set_series(
            [
                Series(metric.label, xs, [metric.value(lv) for lv in levels], PALETTE[i], "linepoints")
                for i, metric in enumerate(LATENCY_LINES)
            ],
            categories=categories,
        )
        show_errors_and_goodput(self.query_one("#by-errors", Chart), self.query_one("#by-goodput", Chart), levels)

    # --- actions -------------------------------------------------------------------------
    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]

    def action_export(self) -> None:
        if self.result is None:
            self.notify("nothing to export", severity="warning")
            return
        self.app.push_screen(ExportDialog(f"llm-loadtest-{fmt.short_id(self.result.run_id)}"), self._export_chosen)

    def _export_chosen(self, choice: tuple[str, Path] | None) -> None:
        if choice is not None:
            self._export(*choice, self.host.store)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, fmt_name: str, path: Path, store: object | None) -> None:
        assert self.result is not None
        try:
            written = write_export(self.result, fmt_name, path, store)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.exported.append(written)
        self.app.call_from_thread(self.notify, f"exported {fmt_name.upper()} to {written}")
