"""Run the benchmark in a spawned child process, so that nothing the parent does (drawing a
screen, writing a database) can delay a timestamp.

Events travel back over a pipe. The child never blocks its event loop on the pipe: a thread
sends what the loop queues. The parent reads the pipe when it is readable, from its own
event loop. The API key travels in the spawn arguments, never through a file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import signal
import threading
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection

from llm_loadtest.config import RunConfig
from llm_loadtest.engine.events import EngineEvent, RunFailed

_ABORT = "abort"
_DONE = "done"


class EngineProcess:
    def __init__(self, config: RunConfig, *, api_key: str | None, run_id: str, t0_ns: int):
        self._args = (config.model_dump(mode="json"), api_key, run_id, t0_ns)
        self._conn: Connection | None = None
        self._process: multiprocessing.Process | None = None

    async def events(self) -> AsyncIterator[EngineEvent]:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        self._conn = parent_end
        self._process = context.Process(target=_child_main, args=(*self._args, child_end), daemon=True, name="llm-loadtest-engine")
        self._process.start()
        child_end.close()

        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue = asyncio.Queue()

        def readable() -> None:
            try:
                while parent_end.poll():
                    inbox.put_nowait(parent_end.recv())
            except (EOFError, OSError):
                loop.remove_reader(parent_end.fileno())
                inbox.put_nowait(_DONE)

        loop.add_reader(parent_end.fileno(), readable)
        try:
            while (item := await inbox.get()) != _DONE:
                yield item
        finally:
            if not parent_end.closed:
                loop.remove_reader(parent_end.fileno())
            await asyncio.to_thread(self._process.join, 10)
            if self._process.is_alive():
                self._process.kill()
            parent_end.close()

    def abort(self) -> None:
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.send(_ABORT)
            except OSError:
                pass


def _child_main(config_data: dict, api_key: str | None, run_id: str, t0_ns: int, conn: Connection) -> None:
    # Ctrl+C reaches the whole process group; the parent decides, and tells us over the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    outbox: queue.SimpleQueue = queue.SimpleQueue()

    def send_all() -> None:
        while (item := outbox.get()) is not None:
            try:
                conn.send(item)
            except OSError:
                return

    sender = threading.Thread(target=send_all, name="engine-events", daemon=True)
    sender.start()
    try:
        asyncio.run(_serve(RunConfig.model_validate(config_data), api_key, run_id, t0_ns, conn, outbox.put))
    finally:
        outbox.put(_DONE)
        outbox.put(None)
        sender.join()
        conn.close()


async def _serve(config: RunConfig, api_key: str | None, run_id: str, t0_ns: int, conn: Connection, emit) -> None:
    from llm_loadtest.engine.benchmark import Benchmark, RunStartError

    loop = asyncio.get_running_loop()
    try:
        bench = Benchmark(config, api_key=api_key, run_id=run_id, emit=emit, t0_ns=t0_ns)
    except RunStartError as exc:
        emit(RunFailed(str(exc), exc.exit_code))
        return

    def readable() -> None:
        try:
            if conn.poll() and conn.recv() == _ABORT:
                bench.abort()
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            bench.abort()  # the parent is gone: stop rather than run unwatched

    loop.add_reader(conn.fileno(), readable)
    try:
        await bench.run()
    except RunStartError as exc:
        emit(RunFailed(str(exc), exc.exit_code))
    except Exception as exc:  # reported to the parent, which keeps what was measured
        emit(RunFailed(f"engine error: {type(exc).__name__}: {exc}", 1))
    finally:
        loop.remove_reader(conn.fileno())
