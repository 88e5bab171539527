"""Which load to probe next: grow geometrically until the target fails, narrow the bracket,
then confirm both ends of it so that one noisy probe cannot move the answer.

Pure bookkeeping over verdicts (load -> passed or not); the search feeds it probe results.
A load's verdict is the majority of its probes; a tie asks for one more probe.

Narrowing interpolates where it can: given each probe's SLO pressure (its latency at the
target's percentile over the SLO; 1 is the edge), the next load is where the pressure of
the bracket's ends, joined by a line, crosses 1 (regula falsi). Latency grows smoothly with
load below a knee, so this lands next to it in a probe or two where halving takes several.
When one end has moved twice in a row (a curve that bends away from the line), the next
probe halves the bracket instead, so the search never takes more than about twice the
probes of plain bisection.
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
    pressure: dict[float, float] = field(default_factory=dict)  # the latest SLO pressure at each load
    _moves: list[str] = field(default_factory=list)  # which end of the bracket each narrowing probe moved

    def record(self, load: float, passed: bool, pressure: float | None = None) -> None:
        before = (self.holds, self.misses)
        self.verdicts.setdefault(load, []).append(passed)
        if pressure is not None and pressure > 0:
            self.pressure[load] = pressure
        if None not in before:
            after = (self.holds, self.misses)
            self._moves.append("low" if after[0] != before[0] else "high" if after[1] != before[1] else "none")

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
        halved = float((int(low) + int(high)) // 2) if self.integer else self._round(math.sqrt(low * high))
        crossing = self._crossing(low, high)
        if crossing is None or (len(self._moves) >= 2 and self._moves[-1] == self._moves[-2]):
            return halved
        if self.integer:
            return float(min(max(math.floor(crossing), int(low) + 1), int(high) - 1))
        inside = self._round(crossing)
        return inside if low < inside < high else halved

    def _crossing(self, low: float, high: float) -> float | None:
        """Where the line through the ends' pressures reaches 1; None without both pressures."""
        p_low, p_high = self.pressure.get(low), self.pressure.get(high)
        if p_low is None or p_high is None or p_high <= p_low:
            return None
        share = min(max((1.0 - p_low) / (p_high - p_low), 0.0), 1.0)
        return low + (high - low) * share

    def _closed(self, low: float, high: float) -> bool:
        if self.integer:
            return high - low <= max(1, math.floor(low * self.resolution))
        return high <= low * (1 + self.resolution)

    def _round(self, value: float) -> float:
        if self.integer:
            return float(math.floor(value))
        return float(f"{value:.3g}")
