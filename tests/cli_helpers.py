"""The headless run command that tests give to main() or start in a process of their own."""

from __future__ import annotations

import sys


def headless(url: str, *flags: str, model: str = "auto") -> list[str]:
    """`run --headless` against `url`: the arguments main() takes."""
    return ["run", "--headless", "-s", url, "-m", model, *flags]


def headless_command(url: str, *flags: str, model: str = "auto") -> list[str]:
    """The same run as a process of its own (`python -m llm_loadtest`), for a test that
    signals it, kills it or gives it an environment of its own."""
    return [sys.executable, "-m", "llm_loadtest", *headless(url, *flags, model=model)]
