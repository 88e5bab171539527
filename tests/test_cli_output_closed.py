"""`llm-loadtest ... | head`: when the reader of our output goes away, the command ends quietly
with 141 (as SIGPIPE ends other tools), never with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from llm_loadtest.model.errors import ExitCode


def test_a_closed_stdout_is_exit_141_without_a_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, as `| head -0` would be
    try:
        done = subprocess.run(
            [sys.executable, "-m", "llm_loadtest", "info", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr
    assert done.stderr == ""
    assert done.returncode == ExitCode.OUTPUT_CLOSED == 141
