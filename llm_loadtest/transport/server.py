"""A listening socket whose accepted connections remember when their bytes arrived.

For a server that must know, whatever its own load, when a request reached it (the
simulator's truth log): each accepted connection is a `StampedSocket`, whose reads go by
`recvmsg` and keep the kernel's receive stamp of the last bytes read (`arrival_ns`, on the
perf_counter clock). asyncio's selector loop accepts through the listening socket's own
`accept()` and reads through the connection's `recv()`, so a server built with
`loop.create_server(sock=listener)` (aiohttp's `web.SockSite`) gets them unchanged.
"""

from __future__ import annotations

import socket
import time
import weakref

from llm_loadtest.transport.clock import ANCILLARY_SIZE, WallClock, enable_kernel_stamps, stamp_of


class StampedSocket(socket.socket):
    """An accepted connection; `arrival_ns` is when the bytes of its latest read arrived."""

    __slots__ = ("arrival_ns", "clock", "stamped")
    arrival_ns: int
    clock: WallClock

    def recv(self, size: int, flags: int = 0) -> bytes:
        data, ancdata, _, _ = self.recvmsg(size, ANCILLARY_SIZE, flags)
        if data:
            self._stamp(ancdata)
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer)
        received, ancdata, _, _ = self.recvmsg_into([view[: nbytes or len(view)]], ANCILLARY_SIZE, flags)
        if received:
            self._stamp(ancdata)
        return received

    def _stamp(self, ancdata) -> None:
        wall_ns = stamp_of(ancdata) if ancdata else None
        self.arrival_ns = time.perf_counter_ns() if wall_ns is None else self.clock.to_perf(wall_ns)


class StampingListener(socket.socket):
    """A listening TCP socket whose `accept()` gives StampedSockets; `connection(fd)` finds
    the one a transport reads (by its file descriptor, which asyncio exposes)."""

    __slots__ = ("_accepted", "clock")

    def __init__(self, family: int = socket.AF_INET) -> None:
        super().__init__(family, socket.SOCK_STREAM)
        self.clock = WallClock()
        self._accepted: weakref.WeakValueDictionary[int, StampedSocket] = weakref.WeakValueDictionary()
        # accepted connections inherit the option from the listening socket
        enable_kernel_stamps(self)

    def accept(self) -> tuple[StampedSocket, object]:
        fd, address = self._accept()  # type: ignore[attr-defined]  # socket.socket's C-level accept, absent from typeshed
        sock = StampedSocket(self.family, self.type, self.proto, fileno=fd)
        sock.clock = self.clock
        sock.arrival_ns = 0
        self._accepted[fd] = sock
        return sock, address

    def connection(self, fd: int) -> StampedSocket | None:
        return self._accepted.get(fd)
