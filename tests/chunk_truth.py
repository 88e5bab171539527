"""What the simulator's log allows a client's figures to be, however either process was scheduled.

A chunk reaches the client's kernel during the simulator's write of it: after `chunk_write_ns`
(taken right before the write) and before `chunk_send_ns` (right after it). A busy machine can
delay the simulator between its write and the stamp after it, so comparing a figure with the
after-write stamps alone tests the scheduler. Every gap between two chunks, and every first
chunk, therefore lies between a lower and an upper bound, and so does each percentile of them
(a percentile never decreases when any value grows).
"""

from __future__ import annotations

import numpy as np

# the kernel's CLOCK_REALTIME stamps mapped onto perf_counter: a few microseconds of mapping error
SLACK_MS = 0.5


def gap_bounds_ms(entries) -> tuple[np.ndarray, np.ndarray]:
    """Per gap between two chunks of a stream: the least and the most it can have been."""
    lows, highs = [], []
    for entry in entries:
        before = np.array(entry["chunk_write_ns"], dtype=np.int64)
        after = np.array(entry["chunk_send_ns"], dtype=np.int64)
        lows.append(before[1:] - after[:-1])
        highs.append(after[1:] - before[:-1])
    return np.concatenate(lows) / 1e6, np.concatenate(highs) / 1e6


def ttft_bounds_ms(records, log) -> tuple[np.ndarray, np.ndarray]:
    """Per request: the least and the most its time to first chunk can have been, from its t_start."""
    low = np.array([log[r.request_id]["chunk_write_ns"][0] - r.t_start_ns for r in records]) / 1e6
    high = np.array([log[r.request_id]["chunk_send_ns"][0] - r.t_start_ns for r in records]) / 1e6
    return low, high


def assert_percentile_between(figure: float, lows: np.ndarray, highs: np.ndarray, q: float = 50, slack_ms: float = SLACK_MS) -> None:
    least, most = float(np.percentile(lows, q)), float(np.percentile(highs, q))
    assert least - slack_ms <= figure <= most + slack_ms, f"p{q:g} {figure:.3f} ms outside what the log allows [{least:.3f}, {most:.3f}]"
