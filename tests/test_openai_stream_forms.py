"""The OpenAI adapter reads every form of SSE that real servers send, over real HTTP.

A small aiohttp server on 127.0.0.1 replays canned byte streams, cut into reads where we
choose, so that each form (spacing, line endings, comments, split and merged events,
reasoning deltas, role-only chunks) reaches the adapter exactly as written.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from llm_loadtest.adapters.openai import OpenAIAdapter
from llm_loadtest.engine.session import open_session
from llm_loadtest.model.records import ClockSource, Outcome, Prompt
from llm_loadtest.transport.clock import kernel_stamps_available


def chat_event(content=None, *, role=None, reasoning=None, finish=None, usage=None) -> dict:
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    event = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        event = {"choices": [], "usage": usage}
    return event


async def serve(pieces: list[bytes], gap_s: float = 0.01):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in pieces:
            await response.write(piece)
            await asyncio.sleep(gap_s)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def read(pieces: list[bytes], *, stamped: bool = True):
    """The record of one request on the engine's session: on the client's own sockets with
    kernel stamps where the platform has them, else (or with stamped=False) on aiohttp."""
    async with open_session(stamped=stamped) as session:
        runner, url = await serve(pieces)
        try:
            adapter = OpenAIAdapter(server=url, model="m", output_len=3)
            record = await adapter.send(session, Prompt("hi", 1), "req-1", timeout=10)
        finally:
            await runner.cleanup()
    expected = ClockSource.KERNEL if stamped and kernel_stamps_available() else ClockSource.USER
    assert record.clock is expected
    return record


def sse(event: dict | str, *, space: bool = True, eol: str = "\n") -> bytes:
    data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
    return f"data:{' ' if space else ''}{data}{eol}{eol}".encode()


USAGE = {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}


@pytest.mark.parametrize("stamped", [True, False])
async def test_plain_stream_with_role_only_first_chunk(stamped):
    record = await read(
        [
            sse(chat_event(role="assistant")),
            sse(chat_event("a")),
            sse(chat_event(" b")),
            sse(chat_event(" c", finish="length")),
            sse(chat_event(usage=USAGE)),
            sse("[DONE]"),
        ],
        stamped=stamped,
    )
    assert record.outcome is Outcome.SUCCESS
    assert len(record.chunk_times_ns) == 3  # the role-only chunk is not content
    assert record.output_tokens == 3 and record.input_tokens == 1
    assert record.chunk_times_ns[0] > record.t_start_ns
    assert list(record.chunk_texts) == ["a", " b", " c"]


@pytest.mark.parametrize("space", [True, False])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
async def test_data_prefix_with_or_without_space_and_any_line_ending(space, eol):
    record = await read([sse(chat_event(t), space=space, eol=eol) for t in ("x", "y", "z")] + [sse("[DONE]", space=space, eol=eol)])
    assert record.outcome is Outcome.SUCCESS
    assert record.chunk_texts == ["x", "y", "z"]


async def test_comments_keepalives_and_events_split_or_merged_across_reads():
    whole = sse(chat_event("one")) + b": keep-alive\n\n" + sse(chat_event("two")) + sse(chat_event("three")) + sse("[DONE]")
    # cut in the middle of a JSON object, of a 'data:' prefix, and between CR and LF
    cuts = [5, 17, len(sse(chat_event("one"))) + 3, len(whole) - 9]
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)])]
    record = await read(pieces)
    assert record.outcome is Outcome.SUCCESS
    assert record.chunk_texts == ["one", "two", "three"]
    # "two" and "three" arrived in one read, so they share its arrival time
    first, second, third = record.chunk_times_ns.tolist()
    assert first < second == third


async def test_reasoning_deltas_are_content_and_flagged():
    record = await read(
        [
            sse(chat_event(role="assistant")),
            sse(chat_event(reasoning="think")),
            sse({"choices": [{"delta": {"reasoning": "more"}}]}),
            sse(chat_event("answer", finish="stop")),
            sse("[DONE]"),
        ]
    )
    assert record.outcome is Outcome.SUCCESS
    assert len(record.chunk_times_ns) == 3
    assert record.reasoning_chunks == 2


async def test_a_utf8_character_split_across_reads_is_kept():
    data = sse(chat_event("héllo")) + sse("[DONE]")
    cut = data.index("é".encode()) + 1
    record = await read([data[:cut], data[cut:]])
    assert record.chunk_texts == ["héllo"]


async def test_error_event_in_stream_is_a_failure_with_its_message():
    record = await read([sse(chat_event("a")), sse({"error": {"message": "engine died", "code": 500}}), sse("[DONE]")])
    assert record.outcome is Outcome.STREAM_BROKEN
    assert "engine died" in record.error


async def test_stream_that_ends_without_done_or_finish_is_broken():
    record = await read([sse(chat_event("a")), sse(chat_event("b"))])
    assert record.outcome is Outcome.STREAM_BROKEN


async def test_finish_reason_without_done_is_complete():
    record = await read([sse(chat_event("a")), sse(chat_event("b", finish="stop"))])
    assert record.outcome is Outcome.SUCCESS


async def test_an_event_of_an_unexpected_shape_is_malformed_and_keeps_what_came_before():
    record = await read([sse(chat_event("a")), sse({"choices": [{"delta": "oops"}]}), sse(chat_event("b")), sse("[DONE]")])
    assert record.outcome is Outcome.MALFORMED
    assert record.chunk_texts[0] == "a" and len(record.chunk_times_ns) >= 1


async def test_usage_of_an_unexpected_shape_is_malformed():
    record = await read([sse(chat_event("a", finish="stop")), sse({"choices": [], "usage": {"completion_tokens": "many"}}), sse("[DONE]")])
    assert record.outcome is Outcome.MALFORMED
