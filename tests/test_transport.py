"""The client's own HTTP/1.1 transport against the simulator over real HTTP on 127.0.0.1:
kernel receive stamps checked against the simulator's log of its writes."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from llm_loadtest.transport.clock import kernel_stamps_available
from llm_loadtest.transport.http1 import BadResponse, ConnectFailed, ConnectionLost, ConnectionPool, Exchange

pytestmark = pytest.mark.skipif(not kernel_stamps_available(), reason="kernel receive stamps are Linux's")

MS = 1_000_000


def chat_request(pool: ConnectionPool, request_id: str, max_tokens: int, *, stream: bool = True, key: str | None = None) -> bytes:
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens, "stream": stream}
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return pool.request_bytes("POST", "/v1/chat/completions", headers, json.dumps(body).encode())


class Reads:
    """What a sink got: each read's content events and its stamp, and when the test's loop ran
    it. The sink is called once per HTTP chunk: the calls of one read share its stamp."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, int, int]] = []  # (content events, stamp, when read)

    def __call__(self, data: bytes, t_ns: int) -> None:
        count = data.count(b'"content"')
        if self.reads and self.reads[-1][1] == t_ns:
            self.reads[-1] = (self.reads[-1][0] + count, t_ns, self.reads[-1][2])
        else:
            self.reads.append((count, t_ns, time.perf_counter_ns()))


async def block_the_loop(stop: asyncio.Event) -> None:
    """Hold the loop busy for 50 ms at a time, as a slow callback of the client would."""
    while not stop.is_set():
        time.sleep(0.05)
        await asyncio.sleep(0.02)


async def test_stamps_are_the_arrival_times_even_when_the_loop_is_blocked(simulator):
    # a chunk every 60 ms: one 50 ms block holds at most one, which it reads late
    sim = simulator(ttft_ms=60, itl_ms=60, step_us_per_seq=0, prefill_us_per_token=0)
    pool = ConnectionPool(sim.url)
    reads = Reads()
    stop = asyncio.Event()
    blocker = asyncio.get_running_loop().create_task(block_the_loop(stop))
    try:
        exchange = await pool.send(Exchange(chat_request(pool, "blocked", 16), sink=reads))
    finally:
        stop.set()
        await blocker
        pool.close()
    assert exchange.status == 200 and exchange.complete and exchange.unstamped_reads == 0
    entry = sim.read_chunk_log("blocked")["blocked"]
    before, after = entry["chunk_write_ns"], entry["chunk_send_ns"]
    content = [(count, stamp, read) for count, stamp, read in reads.reads if count]
    assert sum(count for count, _, _ in content) == len(after) == 16
    # the last chunk of each read is stamped when its bytes arrived: on loopback the kernel
    # delivers them during the simulator's write, which it logged from just before to just
    # after; within 0.5 ms of that, however late the read was
    index = -1
    late_reads = 0
    for count, stamp, read in content:
        index += count
        assert before[index] - MS / 2 <= stamp <= after[index] + MS / 2, (index, (stamp - after[index]) / MS)
        late_reads += read - stamp > 10 * MS
    assert late_reads >= 3  # the blocks did delay reads: the stamps did not follow them
    assert exchange.t_start_ns <= before[0]


async def test_a_stream_read_late_carries_several_chunks_in_one_read(simulator):
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0, prefill_us_per_token=0)
    pool = ConnectionPool(sim.url)
    reads = Reads()

    def written(t_ns: int) -> None:
        time.sleep(0.06)  # the loop is busy while the first chunks arrive

    try:
        await pool.send(Exchange(chat_request(pool, "late", 40), sink=reads, on_written=written))
    finally:
        pool.close()
    entry = sim.read_chunk_log("late")["late"]
    first_count, first_stamp, _ = next(r for r in reads.reads if r[0])
    assert first_count >= 2  # coalesced: they share the read's stamp, the last one's arrival
    assert entry["chunk_write_ns"][first_count - 1] - MS / 2 <= first_stamp <= entry["chunk_send_ns"][first_count - 1] + MS / 2


async def test_connections_are_kept_alive_and_a_new_one_pays_its_connect(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1, step_us_per_seq=0, api_key="k")
    pool = ConnectionPool(sim.url)
    try:
        first = await pool.send(Exchange(chat_request(pool, "a", 2, stream=False, key="k")))
        assert first.status == 200 and first.connect_ns > 0
        assert json.loads(first.body)["choices"][0]["message"]["content"]
        again = await pool.send(Exchange(chat_request(pool, "b", 2, key="k"), sink=Reads()))
        assert again.connect_ns == 0 and pool.idle == 1
        await pool.open(3)
        assert pool.idle == 3
        refused = await pool.send(Exchange(chat_request(pool, "c", 2)))  # no key
        assert refused.status == 401 and b"API key" in refused.body
        assert refused.connect_ns == 0 and pool.idle == 3  # an error status keeps the connection
    finally:
        pool.close()
    log = sim.read_chunk_log("a")
    assert log["a"]["status"] == 200 and "c" not in log  # refused before any generation


async def test_a_dropped_stream_a_refused_connect_and_garbage_are_errors(simulator, unused_tcp_port):
    sim = simulator(ttft_ms=1, itl_ms=1, step_us_per_seq=0, drop_rate=1.0)
    pool = ConnectionPool(sim.url)
    reads = Reads()
    try:
        with pytest.raises(ConnectionLost):
            await pool.send(Exchange(chat_request(pool, "drop", 6), sink=reads))
    finally:
        pool.close()
    assert sum(count for count, _, _ in reads.reads) == sim.read_chunk_log("drop")["drop"]["completion_tokens"]

    with pytest.raises(ConnectFailed):
        await ConnectionPool(f"http://127.0.0.1:{unused_tcp_port}").send(Exchange(b"GET / HTTP/1.1\r\n\r\n"))

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: zero\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0, family=socket.AF_INET)
    port = server.sockets[0].getsockname()[1]
    pool = ConnectionPool(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(BadResponse):
            await pool.send(Exchange(pool.request_bytes("GET", "/", {})))
    finally:
        pool.close()
        server.close()


async def test_a_sinks_own_error_ends_the_request_with_it(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1, step_us_per_seq=0)
    pool = ConnectionPool(sim.url)

    def sink(data: bytes, t_ns: int) -> None:
        raise KeyError("unexpected shape")

    try:
        with pytest.raises(KeyError):
            await pool.send(Exchange(chat_request(pool, "x", 4), sink=sink))
        assert pool.idle == 0  # the connection's state is unknown: closed
    finally:
        pool.close()


async def test_a_kept_alive_connection_the_server_closed_is_replaced_without_a_failure():
    served = []
    closed = asyncio.Event()

    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        served.append(writer.get_extra_info("peername"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive promised, then not kept
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        closed.set()

    server = await asyncio.start_server(one_answer_then_close, "127.0.0.1", 0, family=socket.AF_INET)
    pool = ConnectionPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        first = await pool.send(Exchange(pool.request_bytes("GET", "/", {})))
        assert first.body == b"ok" and pool.idle == 1
        # the next request goes as soon as the server closed, before this loop reads the close
        await closed.wait()
        again = await pool.send(Exchange(pool.request_bytes("GET", "/", {})))
        assert again.status == 200 and again.body == b"ok"
        assert again.connect_ns > 0 and len(served) == 2  # on a new connection
    finally:
        pool.close()
        server.close()
