"""How a run stops on a signal: the first one ends the run and keeps what was measured."""

from __future__ import annotations

import asyncio
import os
import signal
import sys


def install_interrupt(loop: asyncio.AbstractEventLoop, on_interrupt) -> None:
    """First Ctrl+C stops the run and keeps what was measured; a second one leaves at once."""
    presses = 0

    def handler() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os._exit(130)
        print("\ninterrupted: stopping, keeping what was measured (Ctrl+C again to quit now)", file=sys.stderr)
        on_interrupt()

    loop.add_signal_handler(signal.SIGINT, handler)
