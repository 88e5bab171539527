"""Server-sent events read from bytes as they arrive, whatever the reads' boundaries."""

from __future__ import annotations

import pytest

from llm_loadtest.adapters.sse import SSEReader

# one stream with everything a server may send: both `data:` forms, the three line ends, a
# comment and a keep-alive, an event of another type, a multi-line data, an id and a retry,
# a character of two UTF-8 bytes, and a last event with no blank line after it
STREAM = (
    b"data: one\n\n"
    b"data:two\r\n\r\n"
    b": keep-alive\r\r"
    b"event: ping\ndata: not ours\n\n"
    b"event: message\ndata: three\ndata: lines\n\n"
    b"id: 7\nretry: 100\ndata: caf\xc3\xa9\n\n"
    b"data: [DONE]"
)
PAYLOADS = ["one", "two", "three\nlines", "café", "[DONE]"]


def read(chunks: list[bytes]) -> list[str]:
    reader = SSEReader()
    return [payload for chunk in chunks for payload in reader.feed(chunk)] + reader.close()


def test_a_stream_read_whole_gives_its_message_events_data():
    assert read([STREAM]) == PAYLOADS


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_stream_cut_anywhere_gives_the_same(cut: int):
    assert read([STREAM[:cut], STREAM[cut:]]) == PAYLOADS


def test_a_stream_read_a_byte_at_a_time_gives_the_same():
    assert read([STREAM[i : i + 1] for i in range(len(STREAM))]) == PAYLOADS


def test_an_event_is_handed_on_when_its_blank_line_arrives_not_before():
    reader = SSEReader()
    assert reader.feed(b"data: a\r") == []
    assert reader.feed(b"\n") == []  # CR then LF across reads: one line end, not two
    assert reader.feed(b"\r\n") == ["a"]
    assert reader.close() == []


def test_after_an_id_every_blank_line_is_an_event_as_the_standard_says():
    # the last event id outlives its event, so a second blank line dispatches an empty one,
    # and so does the end of the stream
    assert read([b"id: 1\ndata: a\n\n\n"]) == ["a", "", ""]
    assert read([b"data: a\n\n\n"]) == ["a"]
    assert read([b"retry: soon\n\n", b"retry: 5\n\n"]) == [""]  # only a number is a retry
