"""The client's own health while it measures: event-loop lag and CPU.

A loaded client reads chunks late and reports latencies that belong to it, not to the
server; these figures let the result say so.
"""

from __future__ import annotations

import asyncio
import time
from array import array

import numpy as np

LAG_PROBE_INTERVAL_S = 0.010


class LoopLagMonitor:
    """How late a periodic 10 ms timer fires, in milliseconds."""

    def __init__(self, interval_s: float = LAG_PROBE_INTERVAL_S):
        self.interval_s = interval_s
        self._samples = array("d")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        interval_ns = int(self.interval_s * 1e9)
        while True:
            due = time.perf_counter_ns() + interval_ns
            await asyncio.sleep(self.interval_s)
            self._samples.append(max(0, time.perf_counter_ns() - due) / 1e6)

    def take(self) -> np.ndarray:
        """Samples since the last take."""
        samples = np.frombuffer(self._samples, dtype=np.float64).copy()
        del self._samples[:]
        return samples

    def samples(self) -> np.ndarray:
        """Samples since the last take, left in place."""
        return np.frombuffer(self._samples, dtype=np.float64).copy()

    def stop(self) -> None:
        if self._task:
            self._task.cancel()
            self._task = None


class CpuMeter:
    """This process's CPU use, in % of one core, between marks."""

    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()

    def percent(self) -> float | None:
        wall = time.perf_counter() - self._wall
        if wall <= 0:
            return None
        return 100.0 * (time.process_time() - self._cpu) / wall
