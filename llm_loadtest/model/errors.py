"""The exit codes docs/cli.md promises, and the one exception tree whose classes carry them.

Every error meant for the user is a `LoadtestError`: its message is one line that says what
went wrong and how to fix it, and the command exits with its `exit_code`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # every request of some level failed, or a goodput / regression gate missed
    CONFIG = 2  # bad arguments or configuration
    UNREACHABLE = 3  # the server could not be reached before the run
    INTERRUPTED = 130  # Ctrl+C (SIGINT); what was measured is kept
    TERMINATED = 143  # SIGTERM; what was measured is kept
    OUTPUT_CLOSED = 141  # the reader of stdout went away (`| head`), as SIGPIPE ends other tools

    @classmethod
    def of_status(cls, status: str, *, terminated: bool = False) -> ExitCode:
        """A finished run's code: an aborted run says which signal stopped it."""
        if status == "completed":
            return cls.OK
        if status == "aborted":
            return cls.TERMINATED if terminated else cls.INTERRUPTED
        return cls.FAILED


class LoadtestError(Exception):
    """A one-line error for the user; the command exits with `exit_code`.

    A subclass says its code; `exit_code=` is for an error that passes on another one's (a run
    that cannot start because the server is unreachable, say)."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, exit_code: ExitCode | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = ExitCode(exit_code)


class ConfigError(LoadtestError, ValueError):
    """Bad user input or configuration.

    `field` names the RunConfig field (or setting) at fault, so that each front end can say it
    its own way: the CLI as its flag, the app's form as its label (see `labelled`)."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)

    def labelled(self, label: Callable[[str], str]) -> str:
        """The message with the field named by `label(field)`, e.g. "--input-len: must be ..."."""
        return f"{label(self.field)}: {self.reason}" if self.field else self.reason


class ServerUnreachable(LoadtestError):
    """The server could not be reached before the run."""

    exit_code = ExitCode.UNREACHABLE


class ServerConfigError(LoadtestError):
    """The server answered, but the configuration does not fit it (unknown model, ...)."""

    exit_code = ExitCode.CONFIG


class GateFailed(LoadtestError):
    """The run went, but a goodput or regression gate missed (each miss said on its own line)."""

    exit_code = ExitCode.FAILED


# getaddrinfo's answers for a name that does not exist (EAI_NODATA is not on every platform)
_NO_SUCH_HOST = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def connect_failure(error: OSError) -> str:
    """Why no connection could be opened, in a few plain words ("connection refused", "host not
    found"), without the wrapping of the library that met it."""
    if isinstance(error, socket.gaierror):
        if error.errno in _NO_SUCH_HOST:
            return "host not found"
        return f"host not found ({_plain(error.strerror or str(error))})"
    if isinstance(error, TimeoutError) and not error.errno:
        return "no answer (connection timed out)"
    # asyncio's own text ("Connect call failed ('127.0.0.1', 1)") says less than the errno's
    return _plain(os.strerror(error.errno) if error.errno else str(error) or type(error).__name__)


def _plain(text: str) -> str:
    first = text.splitlines()[0] if text else text
    return first[:1].lower() + first[1:]
