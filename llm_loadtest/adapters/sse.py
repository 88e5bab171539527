"""Server-sent events from raw response bytes, by httpx-sse's standards-following decoder.

httpx-sse only exposes its decoder through httpx responses; our hot path reads bytes with
aiohttp (a third of httpx's client CPU at hundreds of streams), so we drive its line and
event decoders directly. They handle `data:` with or without a space, CRLF / LF / CR,
`:` comment and keep-alive lines, and events split across reads or several in one read.
"""

from __future__ import annotations

import codecs

from httpx_sse._decoders import SSEDecoder, SSELineDecoder


class SSEReader:
    """Feed it bytes as they arrive; it returns the `data` of each event completed by them."""

    __slots__ = ("_events", "_lines", "_text")

    def __init__(self) -> None:
        # incremental, so that a UTF-8 character split across two reads is not mangled
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = SSELineDecoder()
        self._events = SSEDecoder()

    def feed(self, data: bytes) -> list[str]:
        text = self._text.decode(data)
        if not text:
            return []
        return self._decode_lines(self._lines.decode(text))

    def close(self) -> list[str]:
        """Events left when the stream ended without a final blank line."""
        tail = self._text.decode(b"", final=True)
        lines = self._lines.decode(tail) if tail else []
        lines += self._lines.flush()
        lines.append("")
        return self._decode_lines(lines)

    def _decode_lines(self, lines: list[str]) -> list[str]:
        payloads = []
        decode = self._events.decode
        for line in lines:
            event = decode(line)
            if event is not None and event.event == "message":
                payloads.append(event.data)
        return payloads
