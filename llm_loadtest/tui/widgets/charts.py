"""Charts on textual-plot: downsampled, throttled, and never focusable.

- every series is cut to about twice the plot's width before plotting, keeping each bucket's
  minimum and maximum so that spikes survive (`downsample_minmax`);
- a chart redraws at most `MAX_REDRAWS_PER_S` times a second, however often it is fed, and
  not at all while hidden (a background tab);
- a chart never takes keyboard focus, so Tab and the screen's keys keep working;
- a frame repaints each of the chart's canvases once, not once per pixel drawn, and works
  out a canvas's base style once, not once per line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
from rich.markup import escape
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.containers import Grid
from textual.geometry import Region
from textual.strip import Strip
from textual.timer import Timer
from textual_hires_canvas import Canvas
from textual_plot import HiResMode, LegendLocation, PlotWidget
from textual_plot.axis_formatter import CategoricalAxisFormatter, NumericAxisFormatter
from textual_plot.plot_widget import Legend

from llm_loadtest.model.results import LevelSummary
from llm_loadtest.report.presentation import FIGURES

MAX_REDRAWS_PER_S = 4.0

# Distinct on both dark and light backgrounds.
PALETTE = ["dodger_blue1", "dark_orange", "green3", "magenta", "gold3", "cyan", "red"]


def downsample_minmax(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: the series cut into max_points/2 buckets by index, each
    bucket kept as its minimum and maximum in their original order. NaNs are dropped first."""
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


@dataclass
class Series:
    """One line (or set of points / bars) of a chart."""

    label: str | None
    x: Sequence[float] | np.ndarray
    y: Sequence[float] | np.ndarray
    style: str = PALETTE[0]
    kind: str = "line"  # line | points | linepoints | bars


class _Canvas(Canvas):
    """textual-hires-canvas's canvas, whose base style is worked out once per paint: its
    render_line() asks for `rich_style` (a walk up every ancestor's styles) on every line."""

    _paint_style: Style | None = None

    @property
    def rich_style(self) -> Style:
        if self._paint_style is not None:
            return self._paint_style
        return super().rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint_style = super().rich_style  # styles do not change within one paint
        try:
            return super().render_lines(crop)
        finally:
            self._paint_style = None


class Chart(PlotWidget, can_focus=False):
    """A titled, throttled, non-focusable plot."""

    def __init__(
        self,
        title: str = "",
        *,
        y_min: float | None = 0.0,
        y_max: float | None = None,
        categories: list[str] | None = None,
        legend: str = "border",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`legend`: "border" names the series in the bottom border (never over the data),
        "plot" uses textual-plot's legend box in the top-left corner."""
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.border_title = title
        self._legend_mode = legend
        self._series: list[Series] = []
        self._categories = categories
        self._y_limits = (y_min, y_max)
        self._x_limits: tuple[float | None, float | None] = (None, None)
        self._last_draw = 0.0
        self._pending: Timer | None = None
        self._dirty = False
        self.draw_count = 0  # for tests: how many times the plot was rebuilt

    def compose(self) -> ComposeResult:
        # PlotWidget's own layout, with the canvas above
        with Grid():
            yield _Canvas(1, 1, id="margin-top")
            yield _Canvas(1, 1, id="margin-left")
            yield _Canvas(1, 1, id="plot")
            yield _Canvas(1, 1, id="margin-bottom")
        yield Legend(id="legend")

    def on_mount(self) -> None:
        super().on_mount()
        self.margin_top = 0
        self.margin_bottom = 1
        self.margin_left = 7
        self.set_ylimits(*self._y_limits)

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
        # the plot width decides the downsampling
        if self._series:
            self._dirty = True
            self._schedule()

    def on_show(self, event: events.Show) -> None:
        if self._dirty:
            self._schedule()

    # --- drawing -----------------------------------------------------------------------
    def _render_plot(self) -> None:
        # textual-plot draws pixel by pixel and each pixel asks its canvas for a repaint
        # (hundreds of refresh() calls a frame); batched, each canvas is refreshed once
        with ExitStack() as stack:
            for canvas in self.query(Canvas):
                stack.enter_context(canvas.batch_refresh())
            super()._render_plot()

    def _max_points(self) -> int:
        width = max(self.size.width - self.margin_left - 2, 10)
        return 2 * width

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
        if self._categories:
            self.set_x_formatter(CategoricalAxisFormatter(self._categories))
            self.set_xticks([float(i) for i in range(1, len(self._categories) + 1)])
            self.set_xlimits(0.5, len(self._categories) + 0.5)
        else:
            self.set_x_formatter(SparseTicks(limit=max(2, (self.size.width - self.margin_left) // 7)))
            self.set_xticks(None)
            self.set_xlimits(*self._x_limits)
        self.set_y_formatter(SparseTicks(limit=max(2, (self.size.height - 2) // 2)))
        limit = self._max_points()
        in_plot = self._legend_mode == "plot"
        cut = [downsample_minmax(series.x, series.y, limit) for series in self._series]
        y_min, y_max = self._y_limits
        if y_max is None:
            # headroom, so that a line at the maximum is not drawn over the top axis
            highest = max((float(ys.max()) for _, ys in cut if ys.size), default=None)
            if highest is not None:
                y_max = highest * 1.1 if highest > 0 else 1.0
        self.set_ylimits(y_min, y_max)
        for series, (xs, ys) in zip(self._series, cut):
            label = series.label if in_plot else None
            if series.kind == "bars":
                # a bar of height 0 would still fill the cell row it starts in, and read as a value
                shown = ys != 0
                if shown.any():
                    self.bar(xs[shown], ys[shown], width=0.6, bar_style=series.style, label=label)
                continue
            if series.kind in ("line", "linepoints") and xs.size:
                self.plot(xs, ys, line_style=series.style, hires_mode=HiResMode.BRAILLE, label=label)
            if series.kind == "points" or (series.kind == "linepoints" and xs.size):
                self.scatter(xs, ys, marker="●", marker_style=series.style, label=label if series.kind == "points" else None)
        labelled = [series for series in self._series if series.label]
        self.show_legend(LegendLocation.TOPLEFT, is_visible=in_plot and len(labelled) > 0)
        if self._legend_mode == "border" and len(labelled) > 1:
            self.border_subtitle = "  ".join(f"[{series.style}]━━[/] {escape(series.label or '')}" for series in labelled)
        else:
            self.border_subtitle = ""

    def series_points(self) -> list[int]:
        """How many points each dataset actually plotted (for tests)."""
        return [len(d.x) for d in self._datasets]


def show_errors_and_goodput(errors: Chart, goodput: Chart, levels: Sequence[LevelSummary]) -> None:
    """Error rate % and goodput % by level, as bars (the live screen and the result view)."""
    categories = [level.label for level in levels]
    xs = [float(i + 1) for i in range(len(levels))]
    error_pct = [FIGURES["error_rate"].value(lv) for lv in levels]
    errors.set_series([Series(None, xs, [None if v is None else v * 100 for v in error_pct], "red", "bars")], categories=categories)
    goodput.set_series([Series(None, xs, [FIGURES["goodput"].value(lv) for lv in levels], "green3", "bars")], categories=categories)
