"""`python -m llm_loadtest.simulator [simulate options]`: the simulator alone.

SimulatorProcess starts this rather than the full `llm-loadtest` command, so that a child
starts without importing every other command, and still reads the very same flags.
"""

from __future__ import annotations

import argparse
import sys

from llm_loadtest.model.errors import LoadtestError
from llm_loadtest.simulator import command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_loadtest.simulator")
    command.add_options(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return command.handle(args)
    except LoadtestError as exc:
        print(f"llm-loadtest: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
