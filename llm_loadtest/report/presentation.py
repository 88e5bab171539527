"""How a result's figures are shown: level labels, number formats, the per-level figures with
their labels and precision, and the plain-text table. The CLI and the app both render from here,
so that one figure reads the same in `run --headless`, `show`, `compare` and on screen.

Presentation only: every value is picked from a LevelSummary as stored, never computed here
(metrics belong to `llm_loadtest.metrics`). The flat export columns are `export.tables`' job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_loadtest.model.results import LevelSummary

DASH = "-"  # no figure, in plain text; the app passes its own


# --- numbers -------------------------------------------------------------------------------


def number(value: float | None, digits: int = 1, suffix: str = "", *, dash: str = DASH) -> str:
    """A number with thousands separators and `digits` decimals, or `dash` when there is none."""
    return dash if value is None else f"{value:,.{digits}f}{suffix}"


def percent(fraction: float | None, digits: int = 1, suffix: str = "", *, dash: str = DASH) -> str:
    """A fraction (0..1) written as a percentage."""
    return number(None if fraction is None else 100 * fraction, digits, suffix, dash=dash)


# --- the per-level figures -----------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of a level: where it is in a LevelSummary, what it is called, how it is written."""

    key: str
    label: str
    digits: int
    value: Callable[[LevelSummary], float | None]
    fraction: bool = False  # a 0..1 ratio, written as a percentage

    def format(self, value: float | None, suffix: str = "", *, dash: str = DASH) -> str:
        return (percent if self.fraction else number)(value, self.digits, suffix, dash=dash)

    def of(self, level: LevelSummary | None, suffix: str = "", *, dash: str = DASH) -> str:
        """This figure of `level` as text; no level or no figure is a dash."""
        return self.format(None if level is None else self.value(level), suffix, dash=dash)


def _stat(field: str, name: str) -> Callable[[LevelSummary], float | None]:
    def get(level: LevelSummary) -> float | None:
        stats = getattr(level, field)
        return None if stats is None else getattr(stats, name)

    return get


def _client(pick: Callable[..., float | None]) -> Callable[[LevelSummary], float | None]:
    return lambda level: None if level.client is None else pick(level.client)


# latency distributions in ms: (LevelSummary field, label, decimals); TPOT and ITL are small
LATENCIES = (
    ("ttft_ms", "TTFT", 1),
    ("tpot_ms", "TPOT", 2),
    ("itl_ms", "ITL", 2),
    ("itl_per_token_ms", "ITL/tok", 2),
    ("e2e_ms", "E2E", 1),
)
STATS = ("min", "mean", "p50", "p90", "p95", "p99", "max")
PERCENTILES = ("p50", "p90", "p95", "p99")


def latency_key(field: str, stat: str) -> str:
    """The FIGURES key of a stat of a latency field: ("ttft_ms", "p50") -> "ttft_p50"."""
    return f"{field.removesuffix('_ms')}_{stat}"


FIGURES: dict[str, Figure] = {
    figure.key: figure
    for figure in (
        Figure("duration_s", "duration s", 2, lambda lv: lv.duration_s),
        Figure("output_throughput", "out tok/s", 1, lambda lv: lv.output_throughput),
        Figure("total_throughput", "total tok/s", 1, lambda lv: lv.total_throughput),
        Figure("request_rate_achieved", "req/s", 2, lambda lv: lv.request_rate_achieved),
        Figure("error_rate", "err %", 1, lambda lv: lv.error_rate, fraction=True),
        Figure("goodput", "goodput %", 1, lambda lv: None if lv.goodput is None else lv.goodput.percent),
        Figure("loop_lag_p99", "loop lag p99", 2, _client(lambda c: c.loop_lag_ms.p99)),
        Figure("cpu_percent", "CPU %", 0, _client(lambda c: c.cpu_percent)),
        Figure("send_delay_p99", "send delay p99", 2, _client(lambda c: None if c.send_delay_ms is None else c.send_delay_ms.p99)),
        Figure("coalesced_chunks", "coalesced", 0, _client(lambda c: c.coalesced_chunks)),
        *(
            Figure(latency_key(field, stat), f"{label} {stat}", digits, _stat(field, stat))
            for field, label, digits in LATENCIES
            for stat in STATS
        ),
    )
}


def clock_lines(levels: Sequence[LevelSummary]) -> list[str]:
    """Which clock timed the levels (docs/metrics.md): the kernel's stamps or this client's.
    Nothing for results made before the clock was recorded."""
    clocks = [None if level.client is None else level.client.clock for level in levels]
    if not any(clocks):
        return []
    if set(clocks) == {"kernel"}:
        return ["clock: kernel (t_start and chunk times are the kernel's send and receive stamps)"]
    if set(clocks) == {"user"}:
        return ["clock: user (times taken by this client process: https or no kernel stamps here; see docs/metrics.md)"]
    return ["clock per level: " + ", ".join(f"{level.label} {clock or '-'}" for level, clock in zip(levels, clocks, strict=True))]


def select(*keys: str) -> tuple[Figure, ...]:
    """The figures of these keys, in this order."""
    return tuple(FIGURES[key] for key in keys)


# --- plain text ----------------------------------------------------------------------------


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    """Columns as wide as their widest cell, two spaces apart, a rule under the headers.
    `right` says which columns are right-aligned (all of them when not given)."""
    align = [True] * len(headers) if right is None else right
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, align, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])
