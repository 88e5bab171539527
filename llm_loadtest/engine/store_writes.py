"""Writes to a run's database that never cost the run: the controller's and the capacity search's."""

from __future__ import annotations

from collections.abc import Callable

from llm_loadtest.engine.protocols import RunStore
from llm_loadtest.engine.threads import in_passing_thread


async def write_safely(store: RunStore | None, write: Callable[[RunStore], object]) -> tuple[bool, str | None]:
    """(whether `write` was stored, the one-line error if it failed). The write runs off the
    loop, so that the app stays responsive while a large level is stored; a failure is
    returned, never raised, so that the caller reports the first one and still tries every
    later write (finish_run stores any level an earlier write lost)."""
    if store is None:
        return False, None
    try:
        await in_passing_thread(lambda: write(store))
    except Exception as exc:
        return False, f"results not saved to the database: {str(exc).splitlines()[0]}"
    return True, None
