"""Dashboard: run counts by status, the recent runs, and the main actions."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Header, Label, Static

from llm_loadtest.tui.screens.app_screen import AppScreen
from llm_loadtest.tui.widgets.cards import Card, CardRow
from llm_loadtest.tui.widgets.run_table import RunTable

RECENT_RUNS = 10

EMPTY_TEXT = "No runs yet. Press [b]n[/b] to configure a benchmark, or try [b]llm-loadtest demo[/b] for one against the built-in simulator."


class DashboardScreen(AppScreen):
    BINDINGS = [
        Binding("n", "new", "New benchmark", id="dashboard.new"),
        Binding("h", "history", "History", id="dashboard.history"),
        Binding("c", "compare", "Compare", id="dashboard.compare"),
        Binding("r", "refresh", "Refresh", show=False, id="dashboard.refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="dashboard"):
            yield CardRow(
                [("runs-total", "Runs"), ("runs-completed", "Completed"), ("runs-running", "Running"), ("runs-failed", "Failed")],
                id="counts",
            )
            yield Label("Recent runs", classes="section-title")
            yield RunTable(["id", "started", "status", "model", "server", "best"], id="recent")
            yield Static(EMPTY_TEXT, id="empty")
            with Horizontal(id="actions"):
                yield Button("New benchmark (n)", id="new", variant="primary", compact=True)
                yield Button("History (h)", id="history", compact=True)
                yield Button("Compare (c)", id="compare", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Dashboard"
        self.refresh_data()

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        store = self.host.store
        counts: dict[str, int] = {}
        rows: list = []
        if store is not None:
            counts = store.status_counts()
            rows = store.list_runs(limit=RECENT_RUNS)
        total = counts.get("total", sum(v for k, v in counts.items() if k != "total"))
        self.query_one("#runs-total", Card).show(str(total))
        self.query_one("#runs-completed", Card).show(str(counts.get("completed", 0)), style="green")
        self.query_one("#runs-running", Card).show(str(counts.get("running", 0)), style="dodger_blue1")
        failed = counts.get("failed", 0)
        aborted = counts.get("aborted", 0)
        self.query_one("#runs-failed", Card).show(str(failed), f"+{aborted} aborted" if aborted else "", style="red" if failed else "")
        table = self.query_one("#recent", RunTable)
        table.sync(rows)
        self.query_one("#empty").display = not rows
        table.display = bool(rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:  # every row is keyed by its run id
            self.host.open_result(event.row_key.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions: dict[str | None, Callable[[], None]] = {
            "new": self.action_new,
            "history": self.action_history,
            "compare": self.action_compare,
        }
        actions[event.button.id]()

    def action_new(self) -> None:
        self.host.open_new_benchmark()

    def action_history(self) -> None:
        self.host.open_history()

    def action_compare(self) -> None:
        self.host.open_compare()

    def action_refresh(self) -> None:
        self.refresh_data()
