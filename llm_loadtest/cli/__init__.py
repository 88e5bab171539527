"""The `llm-loadtest` command: no arguments opens the app; sub-commands live one per module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

# numpy's OpenBLAS starts a thread per core at import, and they spin a while: our figures
# (sorts, percentiles, sums) use no BLAS, so they only took CPU from the requests and the
# server on a busy machine. Set before anything imports numpy; a user's own setting stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from llm_loadtest import __version__
from llm_loadtest.model.errors import ExitCode, LoadtestError


class Command(NamedTuple):
    module: str  # has `register(subparsers)`, which adds its command(s) with `handler(args) -> int`
    help: str


# Every command, and the module that has it. A module is imported only when its command is
# the one asked for, so that `llm-loadtest --help` (and each command) pays for nothing else.
COMMANDS: dict[str, Command] = {
    "run": Command("llm_loadtest.cli.run", "run a benchmark (the app's live screen, or --headless for scripts and CI)"),
    "demo": Command("llm_loadtest.cli.run", "start the built-in simulator and benchmark it with the Quick preset"),
    "recommend": Command("llm_loadtest.cli.recommend", "capacity search: how many users one replica holds, and the GPUs a peak needs"),
    "simulate": Command("llm_loadtest.cli.simulate", "run the built-in OpenAI-compatible LLM server simulator"),
    "info": Command("llm_loadtest.cli.telemetry", "Python, llm-loadtest and library versions, NVIDIA driver, GPUs"),
    "gpu": Command("llm_loadtest.cli.telemetry", "GPU memory, utilisation, temperature and power"),
    "history": Command("llm_loadtest.cli.store", "list stored runs, newest first"),
    "show": Command("llm_loadtest.cli.store", "the summary of a stored run"),
    "delete": Command("llm_loadtest.cli.store", "delete a stored run and its requests"),
    "export": Command("llm_loadtest.cli.store", "write a stored run as CSV, XLSX or JSON"),
    "compare": Command("llm_loadtest.cli.store", "2 to 5 stored runs side by side"),
}
COMMAND_MODULES = list(dict.fromkeys(command.module for command in COMMANDS.values()))


class CliError(LoadtestError):
    """A command cannot go on; bad arguments unless it says otherwise."""

    exit_code = ExitCode.CONFIG


def require_terminal(instead: str) -> None:
    """The app draws on a terminal and reads its keys there: without one (a pipe, a CI job) it
    would write escape codes into a file and wait for keys forever."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(f"the app needs a terminal (stdin and stdout are not one here); {instead}")


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

    commands: Mapping[str, argparse.ArgumentParser] = {}

    def error(self, message: str):
        self.exit(ExitCode.CONFIG, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an argument no option takes is refused by the command it was given
        to (`llm-loadtest run: ... (see llm-loadtest run --help)`), not by the top parser."""
        parsed, stray = self.parse_known_args(args, namespace)
        if stray:
            command = self.commands.get(getattr(parsed, "command", None) or "", self)
            command.error(f"unrecognized arguments: {' '.join(stray)}")
        return parsed


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of the command `argv` names (all of them when `argv`
    is None); every other command is there by its name and help only."""
    parser = OneLineErrors(
        prog="llm-loadtest",
        description="Load tester for LLM serving servers. Without a sub-command it opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"llm-loadtest {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = subparsers.choices  # each command's parser, to refuse its stray arguments
    wanted = set(COMMAND_MODULES) if argv is None else {COMMANDS[name].module for name in argv[:1] if name in COMMANDS}
    registered: set[str] = set()
    for name, command in COMMANDS.items():  # in this order, as --help lists them
        if command.module not in wanted:
            subparsers.add_parser(name, help=command.help)
        elif command.module not in registered:
            registered.add(command.module)
            importlib.import_module(command.module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _command(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl+C at start-up (importing), before a run installs its own handler
        return ExitCode.INTERRUPTED


def _command(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    try:
        code = handler(args) if handler is not None else _open_app()
        sys.stdout.flush()  # here, so that a reader gone away is met below, not at interpreter exit
        return code
    except LoadtestError as exc:
        print(f"llm-loadtest: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return _output_closed()


def _output_closed() -> int:
    """`llm-loadtest history --json | head`: the reader has what it wanted; no traceback, and
    nothing more for Python to flush into the closed pipe at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return ExitCode.OUTPUT_CLOSED


def _open_app() -> int:
    require_terminal("see `llm-loadtest --help` for the commands that need none")
    try:
        app_module = importlib.import_module("llm_loadtest.tui.app")
    except ModuleNotFoundError:
        print("llm-loadtest: the app is not available in this build; see `llm-loadtest --help`", file=sys.stderr)
        return ExitCode.CONFIG
    return app_module.run_app()
