"""Per-request records, exactly as docs/metrics.md defines them.

Times are `time.perf_counter_ns()` values (CLOCK_MONOTONIC on Linux, shared by every process
of the machine, so the simulator's log can be compared with them). Per-chunk data are numpy
arrays, not Python objects per chunk: 12 bytes a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Outcome(StrEnum):
    SUCCESS = "success"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    STREAM_BROKEN = "stream_broken"
    MALFORMED = "malformed"
    CANCELLED = "cancelled"


class TokenSource(StrEnum):
    SERVER = "server"
    TOKENIZER = "tokenizer"
    SERVER_TOKENIZE = "server_tokenize"  # the server's own /tokenize endpoint on the text


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    input_tokens: int  # by the tokenizer in use; the server's count may differ


EMPTY_TIMES = np.empty(0, dtype=np.int64)
EMPTY_COUNTS = np.empty(0, dtype=np.int32)


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    t_start_ns: int
    t_end_ns: int
    outcome: Outcome = Outcome.SUCCESS
    t_scheduled_ns: int | None = None
    # arrival time of each content chunk, and the output tokens it carried
    chunk_times_ns: np.ndarray = field(default_factory=lambda: EMPTY_TIMES)
    chunk_tokens: np.ndarray = field(default_factory=lambda: EMPTY_COUNTS)
    reasoning_chunks: int = 0
    output_tokens: int | None = None
    input_tokens: int | None = None
    output_token_source: TokenSource | None = None
    input_token_source: TokenSource | None = None
    http_status: int | None = None
    error: str | None = None
    # time spent opening a TCP connection when this request had to (0 on a warm connection)
    connect_ns: int = 0
    stream: bool = True
    warmup: bool = False
    # Transient: the text of each content chunk, kept only until the engine has counted
    # tokens after the level (tokenizing in the reading coroutine would delay timestamps).
    chunk_texts: list[str] | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def error_class(self) -> str | None:
        """`http_500`-style key for errors by class (docs/results.md `errors`)."""
        if self.ok:
            return None
        if self.outcome in (Outcome.HTTP_4XX, Outcome.HTTP_5XX) and self.http_status:
            return f"http_{self.http_status}"
        return self.outcome.value

    @property
    def ttft_ns(self) -> int | None:
        """First content chunk minus t_start; for non-streaming requests, the E2E latency."""
        if not self.stream:
            return self.t_end_ns - self.t_start_ns
        if len(self.chunk_times_ns) == 0:
            return None
        return int(self.chunk_times_ns[0]) - self.t_start_ns

    @property
    def e2e_ns(self) -> int:
        return self.t_end_ns - self.t_start_ns
