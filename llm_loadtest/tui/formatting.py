"""How figures look on screen. Formatting only: every number comes from the engine or the store."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from llm_loadtest.results.model import LevelSummary

DASH = "—"

STATUS_STYLES = {
    "running": "bold dodger_blue1",
    "completed": "bold green",
    "failed": "bold red",
    "aborted": "bold dark_orange",
}


def num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """A number with thousands separators, or a dash when there is no figure."""
    if value is None:
        return DASH
    return f"{value:,.{digits}f}{suffix}"


def ms(value: float | None) -> str:
    """Milliseconds with a precision that suits their size."""
    if value is None:
        return DASH
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def percent(fraction: float | None, digits: int = 1) -> str:
    """A fraction (0..1) shown as a percentage."""
    if fraction is None:
        return DASH
    return f"{fraction * 100:.{digits}f}%"


def pct(value: float | None, digits: int = 1) -> str:
    """A value that already is a percentage."""
    if value is None:
        return DASH
    return f"{value:.{digits}f}%"


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


def level_label(level: LevelSummary) -> str:
    """The load level as the CLI writes it: c=10, or 5 req/s (max 10)."""
    if level.request_rate is None:
        return f"c={level.concurrency}"
    cap = f" max {level.concurrency}" if level.concurrency else ""
    return f"{level.request_rate:g}/s{cap}"


def level_x(level: LevelSummary) -> float:
    """Where a level sits on a by-concurrency (or by-rate) axis."""
    if level.request_rate is not None:
        return float(level.request_rate)
    return float(level.concurrency or 0)


def short_id(run_id: str) -> str:
    return run_id[:8]


def levels_text(levels: object) -> str:
    """RunRow.levels may be a count, a list of levels or a ready string."""
    if levels is None:
        return DASH
    if isinstance(levels, (list, tuple)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in levels)
    return str(levels)
