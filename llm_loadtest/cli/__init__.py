"""The `llm-loadtest` command: no arguments opens the app; sub-commands live one per module."""

from __future__ import annotations

import argparse
import importlib
import sys

from llm_loadtest import __version__
from llm_loadtest.model.errors import ExitCode, LoadtestError

# Each module has `register(subparsers)`, which adds its sub-command(s) and sets
# `handler(args) -> int` as the parser default.
COMMAND_MODULES = [
    "llm_loadtest.cli.run",
    "llm_loadtest.cli.recommend",
    "llm_loadtest.cli.simulate",
    "llm_loadtest.cli.telemetry",
    "llm_loadtest.cli.store",
]


class CliError(LoadtestError):
    """A command cannot go on; bad arguments unless it says otherwise."""

    exit_code = ExitCode.CONFIG


MAX_REGRESSION_HELP = (
    "exit 1 when a figure is worse than the baseline's by more than PERCENT: out tok/s, TTFT p50 "
    "and p99, TPOT p50, E2E p99, in each level both runs have (same concurrency or rate)"
)


def percent_limit(text: str) -> float:
    """An argparse type: a percentage, 0 or more."""
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a percentage, 0 or more (got {text!r})")
    return value


class OneLineErrors(argparse.ArgumentParser):
    """Bad arguments are one line on stderr and exit 2 (docs/cli.md), not the usage text; the
    sub-commands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="llm-loadtest",
        description="Load tester for LLM serving servers. Without a sub-command it opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"llm-loadtest {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        return _open_app()
    try:
        return handler(args)
    except LoadtestError as exc:
        print(f"llm-loadtest: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def _open_app() -> int:
    try:
        app_module = importlib.import_module("llm_loadtest.tui.app")
    except ModuleNotFoundError:
        print("llm-loadtest: the app is not available in this build; see `llm-loadtest --help`", file=sys.stderr)
        return ExitCode.CONFIG
    return app_module.run_app()
