"""The per-level table: one row per LevelSummary, with every percentile the result holds."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from llm_loadtest.model.results import LevelSummary
from llm_loadtest.report.presentation import PERCENTILES, latency_key, select
from llm_loadtest.tui import formatting as fmt

LATENCIES = ("ttft_ms", "tpot_ms", "itl_per_token_ms", "e2e_ms")
# the figures between the request counts and the client's health, in column order
FIGURES = select(
    "duration_s",
    "output_throughput",
    "total_throughput",
    "request_rate_achieved",
    "error_rate",
    "goodput",
    *(latency_key(field, p) for field in LATENCIES for p in PERCENTILES),
    "ttft_mean",
    "e2e_max",
)
CLIENT = select("loop_lag_p99", "cpu_percent")


class LevelTable(DataTable):
    """Rows are added as levels finish; nothing here is computed, only formatted."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        columns = ["Level", "OK", "Fail", *(f.label for f in FIGURES + CLIENT), "Errors by class"]
        for title in columns:
            self.add_column(fmt.heading(title), key=title)
        self.fixed_columns = 1

    def set_levels(self, levels: list[LevelSummary]) -> None:
        """Show these levels; rows already there are kept, new ones appended."""
        for index, level in enumerate(levels):
            key = str(index)
            if key in self.rows:
                continue
            self.add_row(*self._cells(level), key=key)
        for row_key in list(self.rows):
            if int(row_key.value or 0) >= len(levels):
                self.remove_row(row_key)

    def add_level(self, index: int, level: LevelSummary) -> None:
        key = str(index)
        if key not in self.rows:
            self.add_row(*self._cells(level), key=key)

    @staticmethod
    def _cells(level: LevelSummary) -> list[object]:
        failed = level.requests.failed
        warn = "bold red" if level.client and level.client.warnings else ""
        errors = level.requests.errors
        return [
            level.marked_label,
            Text(str(level.requests.succeeded), justify="right"),
            Text(str(failed), style="bold red" if failed else "", justify="right"),
            *(Text(fmt.figure(f, level), justify="right") for f in FIGURES),
            *(Text(fmt.figure(f, level), style=warn, justify="right") for f in CLIENT),
            Text(", ".join(f"{name} {count}" for name, count in sorted(errors.items())) or fmt.DASH, style="red" if errors else ""),
        ]
