"""History: every stored run, filtered by status, searched by model or server.

The table is updated row by row (`RunTable.sync`); filtering asks the store, never Python
loops over thousands of results. While a run shows as running, its row is refreshed every
few seconds, again in place.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static

from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.screens.app_screen import AppScreen
from llm_loadtest.tui.screens.dialogs import ConfirmDialog
from llm_loadtest.tui.widgets.run_table import RunTable

STATUSES = ["running", "completed", "failed", "aborted"]
SEARCH_DEBOUNCE_S = 0.2
RUNNING_REFRESH_S = 2.0
MAX_COMPARE = 5


class HistoryScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back", id="history.back"),
        Binding("d,delete", "delete", "Delete", id="history.delete"),
        Binding("space", "mark", "Mark", id="history.mark"),
        Binding("c", "compare", "Compare", id="history.compare"),
        Binding("slash", "search", "Search", id="history.search"),
        Binding("f", "filter", "Filter", id="history.filter"),
        Binding("r", "refresh", "Refresh", show=False, id="history.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._search_timer: Timer | None = None
        self.rows: list = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="filters"):
            yield Label("Status", classes="filter-label")
            yield Select([(status, status) for status in STATUSES], prompt="all", id="status-filter", compact=True)
            yield Label("Search", classes="filter-label")
            yield Input(placeholder="model or server", id="search", compact=True)
        yield RunTable(["mark", "id", "started", "status", "model", "server", "preset", "levels", "best", "errors"], id="runs")
        yield Static("", id="count", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "History"
        self.refresh_data()
        self.set_interval(RUNNING_REFRESH_S, self._refresh_running)
        self.query_one("#runs", RunTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_data()

    # --- data ----------------------------------------------------------------------------
    def _status(self) -> str | None:
        value = self.query_one("#status-filter", Select).value
        return value if isinstance(value, str) else None

    def refresh_data(self) -> None:
        store = self.host.store
        status = self._status()
        search = self.query_one("#search", Input).value.strip() or None
        self.rows = store.list_runs(status=status, search=search) if store is not None else []
        table = self.query_one("#runs", RunTable)
        table.sync(self.rows)
        what = [f"{len(self.rows)} run{'s' if len(self.rows) != 1 else ''}"]
        if status:
            what.append(f"status {status}")
        if search:
            what.append(f"matching {search!r}")
        if table.marked:
            what.append(f"{len(table.marked)} marked for compare")
        self.query_one("#count", Static).update(" · ".join(what))

    def _refresh_running(self) -> None:
        if any(row.status == "running" for row in self.rows):
            self.refresh_data()

    @on(Select.Changed, "#status-filter")
    def _filter_changed(self, event: Select.Changed) -> None:
        self.refresh_data()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, self.refresh_data)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.refresh_data()
        self.query_one("#runs", RunTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:  # every row is keyed by its run id
            self.host.open_result(event.row_key.value)

    # --- actions -------------------------------------------------------------------------
    def _current(self) -> str | None:
        return self.query_one("#runs", RunTable).current_run_id

    def action_view(self) -> None:
        run_id = self._current()
        if run_id:
            self.host.open_result(run_id)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_filter(self) -> None:
        select = self.query_one("#status-filter", Select)
        select.focus()
        select.action_show_overlay()

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_mark(self) -> None:
        run_id = self._current()
        if run_id is None:
            return
        table = self.query_one("#runs", RunTable)
        if not table.toggle_mark(run_id, limit=MAX_COMPARE):
            self.notify(f"compare takes up to {MAX_COMPARE} runs", severity="warning")
        self.refresh_data()

    def action_compare(self) -> None:
        table = self.query_one("#runs", RunTable)
        marked = list(table.marked)
        if not marked and (current := self._current()):
            marked = [current]
        self.host.open_compare(marked)

    def action_delete(self) -> None:
        run_id = self._current()
        if run_id is None:
            return
        row = next((r for r in self.rows if r.run_id == run_id), None)
        if row is not None and row.status == "running":
            self.notify(f"run {fmt.short_id(run_id)} is still running: stop it on its live screen first", severity="warning")
            return
        what = f"{fmt.short_id(run_id)}" + (f" ({row.model}, {fmt.when(row.started_at)})" if row else "")

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            store = self.host.store
            try:
                if store is not None:
                    store.delete_run(run_id)
            except Exception as exc:  # noqa: BLE001 - e.g. the run is still running
                self.notify(f"cannot delete {fmt.short_id(run_id)}: {exc}", severity="error")
                return
            table = self.query_one("#runs", RunTable)
            if run_id in table.marked:
                table.toggle_mark(run_id)
            self.notify(f"deleted run {fmt.short_id(run_id)}")
            self.refresh_data()

        self.app.push_screen(ConfirmDialog(f"Delete run {what} and all its requests? This cannot be undone.", yes="Delete"), confirmed)
