"""Charts on textual-plot: downsampled, throttled, never focusable, with round value axes.

- every series is cut to about twice the plot's width before plotting, keeping each bucket's
  minimum and maximum so that spikes survive (`downsample_minmax`);
- a chart redraws at most `MAX_REDRAWS_PER_S` times a second, however often it is fed, and
  not at all while hidden (a background tab);
- a chart never takes keyboard focus, so Tab and the screen's keys keep working;
- the value axis starts at 0 and ends at a round number that carries a label, with as many
  labelled ticks as the height allows (`value_axis`);
- a frame repaints each of the chart's canvases once, not once per pixel drawn.

Only textual-plot's public API is used (PlotWidget's plotting, limits, ticks and formatters,
Textual's render()); what it lacks is said where our workaround is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
from rich.markup import escape
from textual import events
from textual.app import RenderResult
from textual.timer import Timer
from textual_hires_canvas import Canvas
from textual_plot import AxisFormatter, HiResMode, NumericAxisFormatter, PlotWidget

from llm_loadtest.model.results import LevelSummary
from llm_loadtest.report.presentation import FIGURES

MAX_REDRAWS_PER_S = 4.0

# Distinct on both dark and light backgrounds.
PALETTE = ["dodger_blue1", "dark_orange", "green3", "magenta", "gold3", "cyan", "red"]


def downsample_minmax(
    x: Sequence[float | None] | np.ndarray, y: Sequence[float | None] | np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: the series cut into max_points/2 buckets by index, each
    bucket kept as its minimum and maximum in their original order. NaNs and Nones (no value) are dropped first."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    n = xs.size
    max_points = max(int(max_points), 2)
    if n <= max_points:
        return xs, ys
    n_buckets = max_points // 2
    edges = np.linspace(0, n, n_buckets + 1).astype(np.int64)
    starts = edges[:-1]
    # argmin / argmax inside each bucket, via reduceat on the values, then locating them
    mins = np.minimum.reduceat(ys, starts)
    maxs = np.maximum.reduceat(ys, starts)
    bucket_of = np.repeat(np.arange(n_buckets), np.diff(edges))
    is_min = ys == mins[bucket_of]
    is_max = ys == maxs[bucket_of]
    # first index of the minimum and of the maximum in each bucket
    idx = np.arange(n)
    big = n + 1
    min_idx = np.full(n_buckets, big)
    max_idx = np.full(n_buckets, big)
    np.minimum.at(min_idx, bucket_of[is_min], idx[is_min])
    np.minimum.at(max_idx, bucket_of[is_max], idx[is_max])
    chosen = np.unique(np.concatenate([min_idx, max_idx]))
    chosen = chosen[chosen < n]
    return xs[chosen], ys[chosen]


class SparseTicks(NumericAxisFormatter):
    """Ticks at 1-2-5 steps, no more than fit: labels never run into each other."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = max(2, limit)

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        span = max_ - min_
        if not math.isfinite(span) or span <= 0:
            return [min_]
        raw = span / min(self.limit, max_ticks)
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * 0.999)
        first = math.ceil(min_ / step) * step
        count = int(math.floor((max_ - first) / step + 1e-9)) + 1
        return [round(first + i * step, 12) for i in range(max(count, 0))]


class CategoryTicks(AxisFormatter):
    """One tick per category, at x = 1, 2, 3, …, labelled with the category's name."""

    def __init__(self, categories: Sequence[str]) -> None:
        self.categories = list(categories)

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return [float(i) for i in range(1, len(self.categories) + 1)]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [self.categories[int(t) - 1] if 1 <= int(t) <= len(self.categories) else "" for t in ticks]


class ValueTicks(AxisFormatter):
    """Labels for ticks set by `value_axis`: as many decimals as the step needs (2.5 is not 2)."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return value_axis(max_, max_ticks)[1]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        step = ticks[1] - ticks[0] if len(ticks) > 1 else (ticks[0] if ticks else 1.0)
        decimals = next((d for d in range(7) if abs(round(step, d) - step) < 1e-9 * max(1.0, abs(step))), 6)
        return [f"{tick:.{decimals}f}" for tick in ticks]


# round tick steps, times a power of ten
NICE_STEPS = (1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def value_axis(highest: float, max_ticks: int) -> tuple[float, list[float]]:
    """The top of a value axis that starts at 0, and its ticks: at most `max_ticks` of them,
    evenly spaced by a round step, the last one at the top, so that the top always carries a
    label and the data fills as much of the height as round numbers allow."""
    if not math.isfinite(highest) or highest <= 0:
        return 1.0, [0.0, 1.0]
    best: tuple[float, int, float] | None = None  # (top, -intervals, step): lowest top, then most ticks
    for intervals in range(1, max(max_ticks, 2)):
        raw = highest / intervals
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in NICE_STEPS if m * power >= raw * (1 - 1e-9))
        top = step * math.ceil(highest / step - 1e-9)
        candidate = (round(top, 12), -math.ceil(top / step - 1e-9), step)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    assert best is not None
    top, _, step = best
    count = round(top / step)
    return top, [round(i * step, 12) for i in range(count + 1)]


def round_below(value: float) -> float:
    """The largest round number (a NICE_STEPS multiple of a power of ten) not above `value`."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return max(m * power for m in NICE_STEPS if m * power <= value * (1 + 1e-9))


@dataclass
class Series:
    """One line (or set of points / bars) of a chart."""

    label: str | None
    x: Sequence[float | None] | np.ndarray  # None: no value there (not drawn)
    y: Sequence[float | None] | np.ndarray
    style: str = PALETTE[0]
    kind: str = "line"  # line | points | linepoints | bars


class Chart(PlotWidget, can_focus=False):
    """A titled, throttled, non-focusable plot; the series are named in its bottom border,
    never over the data."""

    def __init__(self, title: str = "", *, y_max: float | None = None, id: str | None = None, classes: str | None = None) -> None:
        """`y_max`: a fixed top for the value axis (say 105 for a percentage); by default the
        axis ends on the round number above the data."""
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.border_title = title
        # not `_y_max`: PlotWidget keeps its current y limit under that name, and would
        # overwrite a fixed top (and make every later axis keep its first top)
        self._value_top = y_max
        self._series: list[Series] = []
        self._categories: list[str] | None = None
        self._x_limits: tuple[float | None, float | None] = (None, None)
        self._last_draw = 0.0
        self._pending: Timer | None = None
        self._dirty = False
        self.draw_count = 0  # for tests: how many times the plot was rebuilt
        self._plotted: list[int] = []  # for tests: how many points each dataset was given

    def on_mount(self) -> None:
        self.margin_top = 0
        self.margin_bottom = 1
        self.margin_left = 7

    # --- feeding -----------------------------------------------------------------------
    def set_series(
        self, series: list[Series], *, categories: list[str] | None = None, x_limits: tuple[float | None, float | None] | None = None
    ) -> None:
        """Replace what the chart shows; the drawing itself happens at most 4 times a second."""
        self._series = series
        if categories is not None:
            self._categories = categories
        if x_limits is not None:
            self._x_limits = x_limits
        self._dirty = True
        self._schedule()

    def _schedule(self) -> None:
        if self._pending is not None or not self.is_mounted:
            return
        wait = self._last_draw + 1.0 / MAX_REDRAWS_PER_S - time.monotonic()
        if wait <= 0:
            self._draw()
        else:
            self._pending = self.set_timer(wait, self._timer_draw)

    def _timer_draw(self) -> None:
        self._pending = None
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        # the plot's size decides the downsampling and how many value ticks fit
        if self._series:
            self._dirty = True
            self._schedule()

    def on_show(self, event: events.Show) -> None:
        if self._dirty:
            self._schedule()

    # --- drawing -----------------------------------------------------------------------
    def render(self) -> RenderResult:
        # Missing in textual-plot 0.10: its frame draws pixel by pixel, and every pixel asks
        # its canvas for a repaint (hundreds of refresh() calls a frame). Our workaround, here
        # only: hold each canvas's refreshes (textual-hires-canvas's public batch_refresh) while
        # PlotWidget.render() draws the frame, so each canvas repaints once.
        with ExitStack() as stack:
            for canvas in self.query(Canvas):
                stack.enter_context(canvas.batch_refresh())
            return super().render()

    def _max_points(self) -> int:
        width = max(self.size.width - self.margin_left - 2, 10)
        return 2 * width

    def _value_ticks_that_fit(self) -> int:
        # the plot's rows, its two axis lines included; a label needs a free row below it
        rows = self.size.height - self.margin_top - self.margin_bottom
        return max(2, (rows - 1) // 2 + 1)

    def _draw(self) -> None:
        if not self._dirty:
            return
        if not self.display or self.region.width == 0:
            # hidden (a background tab): draw when shown
            return
        self._dirty = False
        self._last_draw = time.monotonic()
        self.draw_count += 1
        self.clear()
        self._plotted = []
        if self._categories:
            self.set_x_formatter(CategoryTicks(self._categories))
            self.set_xticks([float(i) for i in range(1, len(self._categories) + 1)])
            self.set_xlimits(0.5, len(self._categories) + 0.5)
        else:
            self.set_x_formatter(SparseTicks(limit=max(2, (self.size.width - self.margin_left) // 7)))
            self.set_xticks(None)
            self.set_xlimits(*self._x_limits)
        limit = self._max_points()
        cut = [downsample_minmax(series.x, series.y, limit) for series in self._series]
        highest = max((float(ys.max()) for _, ys in cut if ys.size), default=0.0)
        if any(series.kind != "bars" for series in self._series):
            highest *= 1.05  # headroom: a line at the maximum is not drawn over the top axis
        if self._value_top is None:
            top, ticks = value_axis(highest, self._value_ticks_that_fit())
        else:
            top = self._value_top
            ticks = value_axis(round_below(top), self._value_ticks_that_fit())[1]
        self.set_ylimits(0.0, top)
        self.set_y_formatter(ValueTicks())
        self.set_yticks(ticks)
        for series, (xs, ys) in zip(self._series, cut):
            if series.kind == "bars":
                # a bar of height 0 would still fill the pixel row it starts in, and read as a value
                shown = ys != 0
                if shown.any():
                    # half-block pixels: twice the rows, so that bars a little apart look apart
                    self.bar(xs[shown], ys[shown], width=0.6, bar_style=series.style, hires_mode=HiResMode.HALFBLOCK)
                    self._plotted.append(int(shown.sum()))
                continue
            if series.kind in ("line", "linepoints") and xs.size:
                self.plot(xs, ys, line_style=series.style, hires_mode=HiResMode.BRAILLE)
                self._plotted.append(int(xs.size))
            if series.kind == "points" or (series.kind == "linepoints" and xs.size):
                self.scatter(xs, ys, marker="●", marker_style=series.style)
                self._plotted.append(int(xs.size))
        labelled = [series for series in self._series if series.label]
        if len(labelled) > 1:
            self.border_subtitle = "  ".join(f"[{series.style}]━━[/] {escape(series.label or '')}" for series in labelled)
        else:
            self.border_subtitle = ""

    def series_points(self) -> list[int]:
        """How many points each dataset plotted was given (for tests)."""
        return list(self._plotted)


def show_errors_and_goodput(errors: Chart, goodput: Chart, levels: Sequence[LevelSummary]) -> None:
    """Error rate % and goodput % by level, as bars (the live screen and the result view)."""
    categories = [level.label for level in levels]
    xs = [float(i + 1) for i in range(len(levels))]
    error_pct = [FIGURES["error_rate"].value(lv) for lv in levels]
    errors.set_series([Series(None, xs, [None if v is None else v * 100 for v in error_pct], "red", "bars")], categories=categories)
    goodput.set_series([Series(None, xs, [FIGURES["goodput"].value(lv) for lv in levels], "green3", "bars")], categories=categories)
