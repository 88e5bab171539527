"""The error a run that cannot start raises: in a module of its own, so that the parent side of
a run (engine.controller) can name it without importing the benchmark and its HTTP client."""

from __future__ import annotations

from llm_loadtest.model.errors import LoadtestError


class RunStartError(LoadtestError):
    """The run cannot start; `exit_code` follows docs/cli.md (2 configuration, 3 unreachable)."""
