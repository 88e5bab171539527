"""A table of stored runs that is updated in place: rows are added, changed and removed one
by one (never cleared and rebuilt), so that it stays quick with thousands of runs and the
cursor stays where the user left it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from llm_loadtest.tui import formatting as fmt

MARK = "●"

# column key -> (title, cell builder)
COLUMNS: dict[str, tuple[str, Any]] = {
    "mark": (" ", None),
    "id": ("ID", None),
    "started": ("Started", lambda r: fmt.when(r.started_at)),
    "status": ("Status", lambda r: fmt.status_text(r.status)),
    "model": ("Model", lambda r: r.model or fmt.DASH),
    "server": ("Server", lambda r: fmt.host(r.server)),
    "preset": ("Preset", lambda r: r.preset or fmt.DASH),
    "levels": ("Levels", lambda r: fmt.levels_text(r.levels)),
    "best": ("Best tok/s", lambda r: Text(fmt.num(r.best_output_throughput, 1), justify="right")),
    "errors": ("Err", lambda r: Text(fmt.percent(r.error_rate), justify="right", style="red" if r.error_rate else "")),
}


class RunIdCell(Text):
    """The ID column's cell: shows the short id, carries the full one (for ordering)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(fmt.short_id(run_id), style="bold")
        self.run_id = run_id


class RunTable(DataTable):
    def __init__(self, columns: Iterable[str], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._column_keys = list(columns)
        self._plain: dict[str, tuple[str, ...]] = {}
        self.marked: list[str] = []
        self.sync_count = 0

    def on_mount(self) -> None:
        for key in self._column_keys:
            self.add_column(COLUMNS[key][0], key=key)

    def _cells(self, row: Any) -> list[Any]:
        cells: list[Any] = []
        for key in self._column_keys:
            if key == "mark":
                cells.append(Text(MARK if row.run_id in self.marked else " ", style="bold magenta"))
            elif key == "id":
                cells.append(RunIdCell(row.run_id))
            else:
                cells.append(COLUMNS[key][1](row))
        return cells

    @staticmethod
    def _plain_of(cells: list[Any]) -> tuple[str, ...]:
        return tuple(cell.plain if isinstance(cell, Text) else str(cell) for cell in cells)

    @property
    def current_run_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:  # noqa: BLE001 - an empty or moving table
            return None
        return row_key.value

    def sync(self, rows: list[Any]) -> None:
        """Make the table show `rows`, in that order, touching only what changed."""
        self.sync_count += 1
        wanted = {row.run_id: row for row in rows}
        for run_id in [k for k in self._plain if k not in wanted]:
            self.remove_row(run_id)
            del self._plain[run_id]
        added = False
        for row in rows:
            cells = self._cells(row)
            plain = self._plain_of(cells)
            old = self._plain.get(row.run_id)
            if old is None:
                self.add_row(*cells, key=row.run_id)
                added = True
            elif old != plain:
                for key, cell, before, after in zip(self._column_keys, cells, old, plain):
                    if before != after:
                        self.update_cell(row.run_id, key, cell)
            self._plain[row.run_id] = plain
        if added:
            order = {row.run_id: i for i, row in enumerate(rows)}
            self.sort("id", key=lambda cell: order.get(cell.run_id, len(order)))

    def toggle_mark(self, run_id: str, limit: int | None = None) -> bool:
        """Mark or unmark a run; False when the limit stops a new mark."""
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif limit is not None and len(self.marked) >= limit:
            return False
        else:
            self.marked.append(run_id)
        if "mark" in self._column_keys and run_id in self._plain:
            cell = Text(MARK if run_id in self.marked else " ", style="bold magenta")
            self.update_cell(run_id, "mark", cell)
            plain = list(self._plain[run_id])
            plain[self._column_keys.index("mark")] = cell.plain
            self._plain[run_id] = tuple(plain)
        return True
