"""The Pareto frontier of serving points: throughput per GPU against interactivity (output
tokens per second one user sees). A point is on the frontier when no other point is at least
as good on both and better on one; those are the configurations worth choosing between."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_frontier(points: Sequence[tuple[float | None, float | None]]) -> list[int]:
    """Indices of the points on the frontier (both coordinates to maximise), in ascending order
    of the first coordinate. Points with a missing coordinate are never on it; of identical
    points only the first is kept."""
    known = [(x, y, i) for i, (x, y) in enumerate(points) if x is not None and y is not None]
    # highest x first (ties: highest y first, then earliest): each point that beats every y
    # seen so far is not dominated
    known.sort(key=lambda p: (-p[0], -p[1], p[2]))
    frontier: list[int] = []
    best_y = float("-inf")
    for _x, y, index in known:
        if y > best_y:
            frontier.append(index)
            best_y = y
    return frontier[::-1]
