"""Per-request records, exactly as docs/metrics.md defines them.

Times are `time.perf_counter_ns()` values (CLOCK_MONOTONIC on Linux, shared by every process
of the machine, so the simulator's log can be compared with them); kernel receive stamps are
mapped onto that clock (`clock` says which a record has). Per-chunk data are numpy arrays,
not Python objects per chunk: 12 bytes a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


class ClockSource(StrEnum):
    """Where a request's arrival times come from (docs/metrics.md, "Per request")."""

    KERNEL = "kernel"  # the kernel's receive stamp of the TCP segment that carried the bytes
    USER = "user"  # time.perf_counter_ns() as the bytes came off the socket in this process


class TokenSource(StrEnum):
    SERVER = "server"
    TOKENIZER = "tokenizer"
    SERVER_TOKENIZE = "server_tokenize"  # the server's own /tokenize endpoint on the text


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str  # the whole prompt as one text (completions, Triton); chat sends `messages`
    input_tokens: int  # by the tokenizer in use; the server's count may differ
    output_len: int | None = None  # max_tokens for this request; None: the run's --output-len
    messages: tuple[dict, ...] | None = None  # chat messages; None: one user message, `text`
    input_len_requested: int | None = None  # the length drawn for it, when drawn
    turn: int | None = None  # 1-based, in a multi-turn session


EMPTY_TIMES = np.empty(0, dtype=np.int64)
EMPTY_COUNTS = np.empty(0, dtype=np.int32)


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    t_start_ns: int
    t_end_ns: int
    outcome: Outcome = Outcome.SUCCESS
    t_scheduled_ns: int | None = None
    # when the load pattern wanted the request sent (a free worker; the arrival in rate mode):
    # t_start - t_ready is the client's send delay, kept out of every latency
    t_ready_ns: int | None = None
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
    # the workload's lengths for this request (drawn, or a dataset's), and its turn in a chat
    input_len_requested: int | None = None
    output_len_requested: int | None = None
    turn: int | None = None
    # reasoning models: the first answer (non-reasoning) chunk's arrival, and reasoning tokens
    t_first_answer_ns: int | None = None
    reasoning_tokens: int | None = None
    clock: ClockSource = ClockSource.USER
    # wall-clock steps seen while the request went: kernel stamps (CLOCK_REALTIME) mapped
    # across a step are off by it
    clock_steps: int = 0
    # Transient: the text of each content chunk, kept only until the engine has counted
    # tokens after the level (tokenizing in the reading coroutine would delay timestamps).
    chunk_texts: list[str] | None = None
    # Transient too: which chunks were reasoning, for counting reasoning tokens with the rest.
    reasoning_at: list[int] | None = None

    def shifted(self, offset_ns: int) -> RequestRecord:
        """The same request on another clock: every absolute time moved by `offset_ns`
        (a time field added to this record belongs here too)."""
        return replace(
            self,
            t_start_ns=self.t_start_ns + offset_ns,
            t_end_ns=self.t_end_ns + offset_ns,
            t_scheduled_ns=None if self.t_scheduled_ns is None else self.t_scheduled_ns + offset_ns,
            t_ready_ns=None if self.t_ready_ns is None else self.t_ready_ns + offset_ns,
            t_first_answer_ns=None if self.t_first_answer_ns is None else self.t_first_answer_ns + offset_ns,
            chunk_times_ns=self.chunk_times_ns + offset_ns,
        )

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
    def ttft_answer_ns(self) -> int | None:
        """First answer (not reasoning) chunk minus t_start; None without one."""
        if self.t_first_answer_ns is None:
            return None
        return self.t_first_answer_ns - self.t_start_ns

    @property
    def e2e_ns(self) -> int:
        return self.t_end_ns - self.t_start_ns
