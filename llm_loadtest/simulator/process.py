"""The simulator in a child process, for tests and for anything that wants a real server."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any

from llm_loadtest.simulator.chunklog import read_chunk_log
from llm_loadtest.simulator.options import SimOptions

LISTENING = "llm-loadtest simulator listening on "


def options_to_argv(options: dict[str, object]) -> list[str]:
    """`itl_ms=5` -> `--itl-ms 5`; a true flag option -> the bare flag; False and None -> left out.

    The names are SimOptions' fields, which are the `simulate` flags; the values are checked
    here, so a bad one fails in the caller rather than as a child that exits early.
    """
    known = {f.name: f for f in fields(SimOptions)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"SimulatorProcess: unknown simulator option(s) {', '.join(unknown)}")
    given: dict[str, Any] = {name: value for name, value in options.items() if value is not None}
    SimOptions(**given)
    argv: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(known[name].default, bool):
            if value:
                argv.append(flag)
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    # The child must import this very package, even when it is not installed (a checkout).
    env = dict(os.environ if env is None else env)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class SimulatorProcess:
    """`with SimulatorProcess(itl_ms=5, chunk_log=path) as sim: ... sim.url ...`

    Keyword options are the `simulate` flags with underscores (`fail_rate_500=0.1`,
    `no_usage=True`). The child listens on a free loopback port.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 20.0,
        env: dict[str, str] | None = None,
        **options: object,
    ):
        self._argv = [sys.executable, "-m", "llm_loadtest.simulator", "--host", host, "--port", "0"]
        self._argv += options_to_argv(options)
        chunk_log = options.get("chunk_log")
        self.chunk_log: Path | None = Path(str(chunk_log)) if chunk_log else None
        self._startup_timeout = startup_timeout
        self._env = _child_env(env)
        self._proc: subprocess.Popen[bytes] | None = None
        self.url: str = ""

    @property
    def argv(self) -> list[str]:
        return list(self._argv)

    @property
    def env(self) -> dict[str, str]:
        return dict(self._env)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> SimulatorProcess:
        if self._proc is not None:
            raise RuntimeError("the simulator is already started")
        self._proc = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=self._env)
        try:
            self.url = self._read_url()
        except BaseException:
            self._kill()
            raise
        return self

    def _read_url(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        deadline = time.monotonic() + self._startup_timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the simulator did not start within {self._startup_timeout:g} s")
                if not selector.select(left):
                    continue
                data = os.read(stdout.fileno(), 4096)
                if not data:
                    code = self._proc.wait()
                    raise RuntimeError(f"the simulator exited with code {code} before listening")
                buffer += data
        line = buffer.split(b"\n", 1)[0].decode()
        if not line.startswith(LISTENING):
            raise RuntimeError(f"unexpected first line from the simulator: {line!r}")
        return line[len(LISTENING) :].strip()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then wait; returns the exit code (None if it was never started)."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def read_chunk_log(self, *request_ids: str, at_least: int = 0, timeout_s: float = 60.0) -> dict[str, dict]:
        """The log so far, once each of `request_ids` is in it and it holds `at_least` entries
        (for a test that knows only how many requests it made). The simulator writes a
        request's line after its last bytes went out, so a client can finish reading before
        the line is there (on a busy machine the simulator may not run again for a while).
        TimeoutError after `timeout_s`. With neither, it waits for nothing."""
        if self.chunk_log is None:
            raise RuntimeError("this simulator was started without chunk_log")
        deadline = time.monotonic() + timeout_s
        while True:
            entries = read_chunk_log(self.chunk_log) if self.chunk_log.exists() else {}
            missing = [request_id for request_id in request_ids if request_id not in entries]
            if not missing and len(entries) >= at_least:
                return entries
            if time.monotonic() > deadline:
                what = f"no request {missing[0]!r}" if missing else f"{len(entries)} of {at_least} requests"
                raise TimeoutError(f"the simulator logged {what} in {timeout_s:g} s")
            time.sleep(0.01)

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
