"""How a run stops on a signal: the first SIGINT (Ctrl+C) or SIGTERM (CI, Docker, systemd,
`timeout`) ends the run and keeps what was measured; a second one leaves at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable

from llm_loadtest.model.errors import ExitCode

EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}
NOTICES = {
    signal.SIGINT: "interrupted: stopping, keeping what was measured (Ctrl+C again to quit now)",
    signal.SIGTERM: "terminated (SIGTERM): stopping, keeping what was measured",
}


class Interruption:
    """Which signal stopped the run, if one did."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None

    @property
    def terminated(self) -> bool:
        return self.signal == signal.SIGTERM


def install_interrupt(loop: asyncio.AbstractEventLoop, on_interrupt: Callable[[], None]) -> Interruption:
    """SIGINT and SIGTERM call `on_interrupt` once (which stops the run and keeps what was
    measured); a second signal exits at once with its code."""
    stop = Interruption()

    def handler(signum: signal.Signals) -> None:
        if stop.signal is not None:
            os._exit(EXIT_CODES[signum])
        stop.signal = signum
        print(f"\n{NOTICES[signum]}", file=sys.stderr)
        on_interrupt()

    for signum in EXIT_CODES:
        loop.add_signal_handler(signum, handler, signum)
    return stop
