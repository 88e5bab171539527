"""The truth log: what the server did for each request, to check a client's measurements against.

One JSON line per finished request (see `ChunkLogEntry`). Times are time.perf_counter_ns()
values, CLOCK_MONOTONIC on Linux and so comparable with a client process's own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO


@dataclass(slots=True)
class ChunkLogEntry:
    request_id: str
    endpoint: str  # "chat" or "completions"; "generate" in Triton mode
    stream: bool
    # the kernel's arrival time of the request's last bytes on the accepted connection (its
    # receive stamp), so that the server's own load cannot move it; when the handler started
    # where the connection is not stamped
    t_recv_ns: int
    t_first_sched_ns: int | None = None  # admitted to the running batch
    # right after each content chunk's bytes were handed to the socket (the write returned); a non-streaming response is
    # one "chunk" carrying every token, written with the body
    chunk_send_ns: list[int] = field(default_factory=list)
    # right before each of those writes: a client's kernel stamp of the chunk lies between the
    # two (on loopback the kernel delivers during the write), however the server was scheduled
    chunk_write_ns: list[int] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    # the scheduler's planned time of each step that emitted tokens for this request (a streamed
    # chunk each; a whole response has several): what the step model did, whatever the load
    chunk_step_ns: list[int] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int = 0  # tokens actually sent
    fault: str | None = None  # an injected fault: http_500, http_429, drop, stall, malformed, error_event
    # a stall: [began, resumed], the scheduler's step times around it (resumed is null when the
    # stream ended first); the same clock as the other times
    stall_ns: list[int | None] | None = None
    status: int = 200  # the HTTP status sent
    client_gone: bool = False  # the client disconnected before the response ended
    t_done_ns: int | None = None
    cached_tokens: int | None = None  # prompt tokens found in the prefix cache
    block_hashes: list[str] | None = None  # chained hashes of the prompt's first 16-token blocks
    reasoning_tokens: int = 0  # of completion_tokens, those sent as reasoning
    # chat requests: [role, text_hash(content)] of each message; and the hash of the answer's
    # content (reasoning left out), so a test can see a later turn carry this answer
    message_hashes: list[list[str]] | None = None
    answer_hash: str | None = None


_FIELDS = tuple(f.name for f in fields(ChunkLogEntry))


def text_hash(text: str) -> str:
    """A short digest of a text, as the chunk log writes message and answer hashes."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class ChunkLog:
    def __init__(self, path: str | Path):
        # Line buffered: a reader sees each line as soon as its request is over.
        self._file: IO[str] | None = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def write(self, entry: ChunkLogEntry) -> None:
        if self._file is not None:
            # not dataclasses.asdict: it deep-copies the per-chunk lists, milliseconds per line
            record = {name: getattr(entry, name) for name in _FIELDS}
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_chunk_log(path: str | Path) -> dict[str, dict]:
    """request_id -> entry; a later line for the same id wins. A last line without its newline
    is one the simulator is still writing: left out, it is there at the next read. The file is
    read whole, then split: a line-by-line read could return such a part at the end of the
    file, and then its rest, written meanwhile, as a line of its own."""
    entries: dict[str, dict] = {}
    *lines, _still_written = Path(path).read_text(encoding="utf-8").split("\n")
    for line in lines:
        if line.strip():
            entry = json.loads(line)
            entries[entry["request_id"]] = entry
    return entries
