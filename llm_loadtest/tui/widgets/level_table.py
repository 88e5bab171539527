"""The per-level table: one row per LevelSummary, with every percentile the result holds."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from llm_loadtest.results.model import LevelSummary, Stats
from llm_loadtest.tui import formatting as fmt

PERCENTILES = ("p50", "p90", "p95", "p99")
LATENCIES = (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("itl_per_token_ms", "ITL/tok"), ("e2e_ms", "E2E"))


def _stat(stats: Stats | None, name: str) -> str:
    return fmt.ms(getattr(stats, name) if stats is not None else None)


def _right(text: str) -> Text:
    return Text(text, justify="right")


class LevelTable(DataTable):
    """Rows are added as levels finish; nothing here is computed, only formatted."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        columns = ["Level", "OK", "Fail", "Dur s", "Out tok/s", "Tot tok/s", "Req/s", "Err", "Goodput"]
        for field, title in LATENCIES:
            columns += [f"{title} {p}" for p in PERCENTILES]
        columns += ["TTFT mean", "E2E max", "Loop lag p99", "CPU", "Errors by class"]
        for title in columns:
            self.add_column(title, key=title)
        self.fixed_columns = 1

    def set_levels(self, levels: list[LevelSummary]) -> None:
        """Show these levels; rows already there are kept, new ones appended."""
        for index, level in enumerate(levels):
            key = str(index)
            if key in self.rows:
                continue
            self.add_row(*self._cells(level), key=key)
        for key in list(self.rows):
            if int(key.value) >= len(levels):
                self.remove_row(key)

    def add_level(self, index: int, level: LevelSummary) -> None:
        key = str(index)
        if key not in self.rows:
            self.add_row(*self._cells(level), key=key)

    @staticmethod
    def _cells(level: LevelSummary) -> list[object]:
        goodput = level.goodput.percent if level.goodput else None
        cells: list[object] = [
            fmt.level_label(level),
            _right(str(level.requests.succeeded)),
            Text(str(level.requests.failed), style="bold red" if level.requests.failed else "", justify="right"),
            _right(fmt.num(level.duration_s, 2)),
            _right(fmt.num(level.output_throughput, 1)),
            _right(fmt.num(level.total_throughput, 1)),
            _right(fmt.num(level.request_rate_achieved, 2)),
            _right(fmt.percent(level.error_rate)),
            _right(fmt.pct(goodput)),
        ]
        for field, _title in LATENCIES:
            stats = getattr(level, field)
            cells += [_right(_stat(stats, p)) for p in PERCENTILES]
        client = level.client
        lag = client.loop_lag_ms.p99 if client else None
        cpu = client.cpu_percent if client else None
        warn = bool(client and client.warnings)
        cells += [
            _right(_stat(level.ttft_ms, "mean")),
            _right(_stat(level.e2e_ms, "max")),
            Text(fmt.ms(lag), style="bold red" if warn else "", justify="right"),
            Text(fmt.pct(cpu, 0), style="bold red" if warn else "", justify="right"),
            Text(", ".join(f"{name} {count}" for name, count in sorted(level.requests.errors.items())) or fmt.DASH, style="red" if level.requests.errors else ""),
        ]
        return cells
