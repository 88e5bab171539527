"""Progress on stderr: one redrawn line on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import time
from typing import TextIO

from llm_loadtest.engine.events import EngineEvent, LevelFinished, LevelStarted, ProgressSnapshot, WarmupStarted

BAR_WIDTH = 20
LOG_EVERY_S = 5.0


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


class ProgressPrinter:
    def __init__(self, stream: TextIO):
        self.stream = stream
        self.tty = stream.isatty()
        self._last_line = 0.0
        self._first_errors: dict[str, str] = {}  # the level's, as its engine kept them

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, WarmupStarted):
            self._line(f"warm-up: {event.requests} requests (not measured)", final=True)
        elif isinstance(event, LevelStarted):
            self._first_errors = {}
            self._line(f"level {event.level_index + 1}/{event.n_levels}: {event.level_label}", final=True)
        elif isinstance(event, ProgressSnapshot):
            self._first_errors = event.first_errors
            if self.tty or time.monotonic() - self._last_line >= LOG_EVERY_S:
                self._line(self._describe(event), final=not self.tty)
        elif isinstance(event, LevelFinished):
            s = event.summary
            self._line(
                f"  done: {s.requests.succeeded}/{s.requests.total} ok, "
                f"{_fmt(s.output_throughput)} tok/s, TTFT p50 {_fmt(s.ttft_ms.p50 if s.ttft_ms else None, ' ms')}",
                final=True,
            )
            # errors by class say how many, not why: the first one's message says it (the
            # server's own words for a refused request)
            for error_class, count in sorted(s.requests.errors.items()):
                message = self._first_errors.get(error_class)
                if message:
                    self._line(f"  {error_class} ({count}): {message}", final=True)

    def _describe(self, p: ProgressSnapshot) -> str:
        fraction = p.fraction
        if fraction is None:
            bar = ""
        else:
            filled = int(round(fraction * BAR_WIDTH))
            bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "] "
        amount = f"{p.completed}/{p.target}" if p.target else f"{p.level_elapsed_s:.0f}/{p.level_duration_s:g} s, {p.completed} done"
        return (
            f"  {bar}{amount}  err {p.failed}  in flight {p.in_flight}  {_fmt(p.output_throughput)} tok/s  "
            f"TTFT p50 {_fmt(p.ttft_p50_ms, ' ms')}  ITL p50 {_fmt(p.itl_p50_ms, ' ms')}"
        )

    def _line(self, text: str, *, final: bool) -> None:
        self._last_line = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
