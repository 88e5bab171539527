"""`llm-loadtest simulate`: the built-in simulator; its flags live with it."""

from __future__ import annotations

import argparse

from llm_loadtest.cli import COMMANDS
from llm_loadtest.simulator import command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate", help=COMMANDS["simulate"].help, description=command.DESCRIPTION)
    command.add_options(parser)
    parser.set_defaults(handler=command.handle)
