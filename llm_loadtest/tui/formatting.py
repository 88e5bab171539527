"""How figures look on screen: `results.presentation` with the screen's dash and styles.
Formatting only: every number comes from the engine or the store."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from llm_loadtest.model.results import LevelSummary
from llm_loadtest.report import presentation
from llm_loadtest.report.presentation import Figure

DASH = "—"  # no figure, on screen

STATUS_STYLES = {
    "running": "bold dodger_blue1",
    "completed": "bold green",
    "failed": "bold red",
    "aborted": "bold dark_orange",
}


def num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """A number with thousands separators, or a dash when there is no figure."""
    return presentation.number(value, digits, suffix, dash=DASH)


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction (0..1) shown as a percentage."""
    return presentation.percent(fraction, digits, "%", dash=DASH)


def pct(value: float | None, digits: int = 1) -> str:
    """A value that already is a percentage."""
    return num(value, digits, "%")


def figure(which: str | Figure, level: LevelSummary | None, suffix: str = "") -> str:
    """A per-level figure (or its key in `presentation.FIGURES`) of `level`, as every view writes it."""
    return _figure(which).of(level, suffix, dash=DASH)


def figure_value(which: str | Figure, value: float | None, suffix: str = "") -> str:
    """A value written as that per-level figure is (a live snapshot's, say)."""
    return _figure(which).format(value, suffix, dash=DASH)


def _figure(which: str | Figure) -> Figure:
    return presentation.FIGURES[which] if isinstance(which, str) else which


def heading(label: str) -> str:
    """A figure's label as a column or row title: "out tok/s" -> "Out tok/s"."""
    return label[:1].upper() + label[1:]


def bar(fraction: float | None, width: int) -> Text:
    """A progress bar as text (no timer, no animation), with the percentage after it."""
    if fraction is None:
        return Text("─" * width + "   ", style="dim")
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    text = Text("━" * filled, style="green" if fraction >= 1 else "dodger_blue1")
    text.append("━" * (width - filled), style="grey37")
    text.append(f" {fraction * 100:3.0f}%")
    return text


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def when(value: datetime | None) -> str:
    """A stored timestamp in the local time zone, to the minute."""
    if value is None:
        return DASH
    if value.tzinfo is not None:
        value = value.astimezone()
    return value.strftime("%Y-%m-%d %H:%M")


def level_x(level: LevelSummary) -> float:
    """Where a level sits on a by-concurrency (or by-rate) axis."""
    if level.request_rate is not None:
        return float(level.request_rate)
    return float(level.concurrency or 0)


def host(server: str | None) -> str:
    """A server URL without its scheme, as the tables and title lines show it."""
    return (server or DASH).removeprefix("http://").removeprefix("https://")


def short_id(run_id: str) -> str:
    return run_id[:8]


def levels_text(levels: object) -> str:
    """RunRow.levels may be a count, a list of levels or a ready string."""
    if levels is None:
        return DASH
    if isinstance(levels, (list, tuple)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in levels)
    return str(levels)
