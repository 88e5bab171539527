"""Which load to probe next: grow geometrically until the target fails, bisect the bracket,
then confirm both ends of it so that one noisy probe cannot move the answer.

Pure bookkeeping over verdicts (load -> passed or not); the search feeds it probe results.
A load's verdict is the majority of its probes; a tie asks for one more probe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

GROWTH = 2.0
RESOLUTION = 0.05  # the bracket is closed when its ends are this close (relative), or adjacent integers
CONFIRMATIONS = 2  # probes that must agree at each end of the final bracket

Phase = Literal["calibrate", "grow", "bisect", "confirm"]


@dataclass(frozen=True)
class NextProbe:
    load: float
    phase: Phase


@dataclass
class SearchPolicy:
    """`integer` loads are concurrencies (1, 2, 4, ...); otherwise request rates."""

    start: float
    integer: bool = True
    cap: float | None = None  # the peak asked about: no need to look past it
    growth: float = GROWTH
    resolution: float = RESOLUTION
    verdicts: dict[float, list[bool]] = field(default_factory=dict)

    def record(self, load: float, passed: bool) -> None:
        self.verdicts.setdefault(load, []).append(passed)

    def verdict(self, load: float) -> bool | None:
        """The majority of the load's probes; None when none ran or they are tied."""
        votes = self.verdicts.get(load, [])
        yes = sum(votes)
        no = len(votes) - yes
        return None if yes == no else yes > no

    @property
    def holds(self) -> float | None:
        """The largest load that passed below the smallest one that failed."""
        ceiling = self.misses
        passed = [load for load in self.verdicts if self.verdict(load) is True and (ceiling is None or load < ceiling)]
        return max(passed, default=None)

    @property
    def misses(self) -> float | None:
        failed = [load for load in self.verdicts if self.verdict(load) is False]
        return min(failed, default=None)

    def next_probe(self) -> NextProbe | None:
        """The load to probe next, or None when the answer stands (see `done_because`)."""
        tied = [load for load in self.verdicts if self.verdict(load) is None]
        if tied:
            return NextProbe(min(tied), "confirm")
        holds, misses = self.holds, self.misses
        if holds is None and misses is None:
            return NextProbe(self.start, "grow")
        if holds is None:
            # even the smallest load missed: make sure before refusing
            low = min(self.verdicts)
            return self._confirm(low)
        if misses is None:
            if self.cap is not None and holds >= self.cap:
                return self._confirm(holds)
            return NextProbe(self._grown(holds), "grow")
        if not self._closed(holds, misses):
            return NextProbe(self._middle(holds, misses), "bisect")
        return self._confirm(holds) or self._confirm(misses)

    def done_because(self) -> Literal["refused", "peak_holds", "bracketed"] | None:
        if self.next_probe() is not None:
            return None
        if self.holds is None:
            return "refused"
        if self.misses is None:
            return "peak_holds"
        return "bracketed"

    def _confirm(self, load: float) -> NextProbe | None:
        return NextProbe(load, "confirm") if len(self.verdicts[load]) < CONFIRMATIONS else None

    def _grown(self, load: float) -> float:
        grown = self._round(load * self.growth)
        if self.integer:
            grown = max(grown, load + 1)
        return min(grown, self.cap) if self.cap is not None else grown

    def _middle(self, low: float, high: float) -> float:
        if self.integer:
            return float((int(low) + int(high)) // 2)
        return self._round(math.sqrt(low * high))

    def _closed(self, low: float, high: float) -> bool:
        if self.integer:
            return high - low <= max(1, math.floor(low * self.resolution))
        return high <= low * (1 + self.resolution)

    def _round(self, value: float) -> float:
        if self.integer:
            return float(math.floor(value))
        return float(f"{value:.3g}")
