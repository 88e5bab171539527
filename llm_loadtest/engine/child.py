"""Run the benchmark in a child process, so that nothing the parent does (drawing a screen,
writing a database) can delay a timestamp.

On Linux a parent with no other thread (the headless command) starts the child by fork: it
has imported most of what the engine needs, and a second interpreter importing it all again
cost about as much CPU as a short run. A parent with threads (the app, a Ray actor) spawns a
fresh interpreter, since a fork copies locks that another thread may hold.

Events travel back over a pipe. The child never blocks its event loop on the pipe: a thread
sends what the loop queues, and a level's records have left before the next level starts.
The parent reads the pipe when it is readable, from its own event loop. The API key travels
in the process arguments, never through a file.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext

from llm_loadtest.engine.event_loop import run_engine
from llm_loadtest.engine.events import EngineEvent, RunFailed, WorkerEvent, WorkerReady
from llm_loadtest.engine.priority import start_process
from llm_loadtest.engine.threads import in_passing_thread
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode

# This process's ends of its engines' pipes. A forked child closes its copies first: while it
# held one, its own pipe would never read as closed when this process died.
_parent_ends: set[Connection] = set()

_ABORT = "abort"
_GO = "go"  # to a worker of a pool: every worker is ready, start the level
_FINISHED = "finished"  # the engine ended on its own terms (its failures arrive as RunFailed)
_CLOSED = "closed"  # nothing more will come


class EngineProcess:
    def __init__(self, config: RunConfig, *, api_key: str | None, run_id: str, t0_ns: int, worker: tuple[int, int] | None = None):
        """`worker` (index, count): one of the client processes of a pool (engine.pool)."""
        self._args = (config.model_dump(mode="json"), api_key, run_id, t0_ns, worker)
        self._conn: Connection | None = None
        self._abort_requested = False

    async def events(self) -> AsyncIterator[EngineEvent]:
        """What the engine tells, as one engine on its own tells it."""
        async for event in self.worker_events():
            if not isinstance(event, WorkerEvent):  # only a pool's workers send those
                yield event

    async def worker_events(self) -> AsyncIterator[EngineEvent | WorkerEvent]:
        """Everything the child sends, a pool worker's own events included (engine.pool)."""
        context: ForkContext | SpawnContext
        if forking_is_safe():
            context = multiprocessing.get_context("fork")
        else:
            _start_resource_tracker()
            context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        _parent_ends.add(parent_end)
        process = context.Process(target=_child_main, args=(*self._args, child_end), daemon=True, name="llm-loadtest-engine")
        gc.freeze()  # a forked child's collections then leave the parent's pages shared
        try:
            await start_process(process)
        finally:
            gc.unfreeze()
        child_end.close()
        self._conn = parent_end
        if self._abort_requested:
            self.abort()

        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue = asyncio.Queue()

        def readable() -> None:
            try:
                while parent_end.poll():
                    inbox.put_nowait(parent_end.recv())
            except (EOFError, OSError):
                loop.remove_reader(parent_end.fileno())
                inbox.put_nowait(_CLOSED)

        _watch(loop, parent_end, readable)
        finished = False
        try:
            while (item := await inbox.get()) != _CLOSED:
                if item == _FINISHED:
                    finished = True
                else:
                    yield item
            await in_passing_thread(lambda: process.join(10))
            if not finished:
                yield RunFailed(f"the engine process ended unexpectedly (exit code {process.exitcode})", ExitCode.FAILED)
        finally:
            self.abort()  # a listener that stopped early must not leave the child running
            if not parent_end.closed:
                loop.remove_reader(parent_end.fileno())
            try:
                await in_passing_thread(lambda: process.join(10))
            finally:  # cancelled too (the host is closing): never leave the child behind
                if process.is_alive():
                    process.kill()
                parent_end.close()
                _parent_ends.discard(parent_end)

    def abort(self) -> None:
        self._abort_requested = True
        self._send(_ABORT)

    def go(self) -> None:
        self._send(_GO)

    def _send(self, message: str) -> None:
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.send(message)
            except OSError:
                pass


def _watch(loop: asyncio.AbstractEventLoop, conn: Connection, readable: Callable[[], None]) -> None:
    """Call `readable` when `conn` has data, keeping `conn` blocking. libuv (uvloop, on either
    side of the pipe) makes a polled descriptor non-blocking; a message larger than the socket
    buffer (a level's records) then failed half-way: EAGAIN in the child's sender thread, or
    in the parent's read of a message not wholly arrived."""
    loop.add_reader(conn.fileno(), readable)
    os.set_blocking(conn.fileno(), True)


def forking_is_safe() -> bool:
    """Linux, and no other thread here that could hold a lock the child would inherit."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a stderr that has a file descriptor.

    The tracker hands `sys.stderr.fileno()` to its own process; a host that replaced stderr
    (Textual's capture answers -1) would make every spawn fail with "bad value(s) in
    fds_to_keep". Started once, the tracker is reused by every later spawn.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        if not _has_fd(sys.stderr) and _has_fd(sys.__stderr__):
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


def _has_fd(stream) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _child_main(config_data: dict, api_key: str | None, run_id: str, t0_ns: int, worker: tuple[int, int] | None, conn: Connection) -> None:
    # Ctrl+C reaches the whole process group, and so does the SIGTERM of `timeout`, systemd or
    # a container's stop: the parent decides, and tells us over the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)  # forked: the parent's event loop's, which must not hear ours
    for inherited in _parent_ends:
        inherited.close()
    outbox: queue.SimpleQueue = queue.SimpleQueue()

    def send_all() -> None:
        connected = True
        while (item := outbox.get()) is not None:
            if isinstance(item, threading.Event):  # a flush mark: all before it has been sent
                item.set()
                continue
            if connected:
                try:
                    conn.send(item)
                except OSError:
                    # the parent is gone: drop what follows, but keep answering flush marks, or
                    # the engine would wait for ever and outlive its parent
                    connected = False

    async def flush() -> None:
        sent = threading.Event()
        outbox.put(sent)
        await asyncio.to_thread(sent.wait)

    sender = threading.Thread(target=send_all, name="engine-events", daemon=True)
    sender.start()
    try:
        run_engine(_serve(RunConfig.model_validate(config_data), api_key, run_id, t0_ns, worker, conn, outbox.put, flush))
        outbox.put(_FINISHED)
    finally:
        outbox.put(_CLOSED)
        outbox.put(None)
        sender.join()
        conn.close()


async def _serve(
    config: RunConfig,
    api_key: str | None,
    run_id: str,
    t0_ns: int,
    worker: tuple[int, int] | None,
    conn: Connection,
    emit: Callable[[EngineEvent | WorkerEvent], None],
    flush: Callable[[], Awaitable[None]],
) -> None:
    from llm_loadtest.engine.benchmark import open_benchmark, run_benchmark

    loop = asyncio.get_running_loop()
    go: asyncio.Queue[bool] = asyncio.Queue()

    async def gate(level: int) -> None:
        emit(WorkerReady(level))
        await go.get()  # the pool's go, or an abort

    bench = open_benchmark(
        config,
        api_key=api_key,
        run_id=run_id,
        emit=emit,
        t0_ns=t0_ns,
        flush=flush,
        worker=worker or (0, 1),
        gate=gate if worker is not None else None,
    )
    if bench is None:
        return

    def readable() -> None:
        try:
            if conn.poll():
                message = conn.recv()
                if message == _ABORT:
                    bench.abort()
                go.put_nowait(message == _GO)
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            bench.abort()  # the parent is gone: stop rather than run unwatched
            go.put_nowait(False)

    _watch(loop, conn, readable)
    try:
        await run_benchmark(bench)
    finally:
        loop.remove_reader(conn.fileno())
