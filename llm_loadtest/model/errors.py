"""The exit codes docs/cli.md promises, and the one exception tree whose classes carry them.

Every error meant for the user is a `LoadtestError`: its message is one line that says what
went wrong and how to fix it, and the command exits with its `exit_code`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # every request of some level failed, or a goodput / regression gate missed
    CONFIG = 2  # bad arguments or configuration
    UNREACHABLE = 3  # the server could not be reached before the run
    INTERRUPTED = 130  # Ctrl+C (SIGINT); what was measured is kept
    TERMINATED = 143  # SIGTERM; what was measured is kept


class LoadtestError(Exception):
    """A one-line error for the user; the command exits with `exit_code`."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = ExitCode(exit_code)


class ConfigError(LoadtestError, ValueError):
    """Bad user input or configuration."""

    exit_code = ExitCode.CONFIG


class ServerUnreachable(LoadtestError):
    """The server could not be reached before the run."""

    exit_code = ExitCode.UNREACHABLE


class ServerConfigError(LoadtestError):
    """The server answered, but the configuration does not fit it (unknown model, ...)."""

    exit_code = ExitCode.CONFIG
