"""How a load level is named, the same everywhere it is shown."""

from __future__ import annotations


def level_label(concurrency: int | None, request_rate: float | None) -> str:
    """A load level: "c=10" (closed loop), "5 req/s" or "5 req/s (max 10)" (open loop, capped)."""
    if request_rate is None:
        return f"c={concurrency}"
    cap = f" (max {concurrency})" if concurrency else ""
    return f"{request_rate:g} req/s{cap}"
