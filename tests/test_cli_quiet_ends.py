"""Ends that are not errors: when the reader of our output goes away (`| head`) the command ends
quietly with 141, as SIGPIPE ends other tools; Ctrl+C at start-up is 130. Never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

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


# Python and the command's entry point are loaded (their own start-up is not ours to make
# quiet); then `main` does what `llm-loadtest` does: import the command, parse, run
STARTED = "import sys; from llm_loadtest.cli import main; print('up', flush=True); sys.exit(main(sys.argv[1:]))"


def test_ctrl_c_at_start_up_is_exit_130_without_a_traceback() -> None:
    """Ctrl+C while the command is still importing (before a run installs its own handler):
    each delay lands somewhere in start-up; none may end in a traceback."""
    argv = [sys.executable, "-c", STARTED, "run", "--headless", "-s", "http://127.0.0.1:9", "-m", "x", "--no-save"]
    for delay in (0.01, 0.03, 0.06, 0.1, 0.2, 0.4):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert "Traceback" not in stderr, (delay, stderr)
        # 130, or the run got far enough to fail on the closed port first (3)
        assert proc.returncode in (ExitCode.INTERRUPTED, ExitCode.UNREACHABLE), (delay, proc.returncode, stderr)


@pytest.mark.parametrize(
    "args, instead",
    [
        ([], "see `llm-loadtest --help`"),
        (["run", "-s", "http://127.0.0.1:9", "-m", "x", "--no-save"], "add --headless"),
        (["recommend", "-s", "http://127.0.0.1:9", "-m", "x", "--goodput", "ttft:100", "--peak-concurrency", "4"], "add --headless"),
    ],
)
def test_the_app_without_a_terminal_is_one_line_and_exit_2_not_a_hang(args, instead) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llm_loadtest", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == ExitCode.CONFIG
    assert done.stdout == ""  # no escape codes written into a file
    (line,) = done.stderr.splitlines()
    assert line.startswith("llm-loadtest: error: the app needs a terminal") and instead in line
