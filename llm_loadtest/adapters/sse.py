"""Server-sent events from raw response bytes, as the HTML standard's event-stream interpretation
reads them (https://html.spec.whatwg.org/multipage/server-sent-events.html).

`data:` with or without a space, CRLF / LF / CR line ends (a CR that ends one read and the LF
that starts the next are one line end), `:` comment and keep-alive lines, events split across
reads or several in one read, a UTF-8 character split across reads. Only the `data` of
`message` events (those with no `event:` field, or `event: message`) is handed on.

The decoding is httpx-sse's, written out here: that package offers it only through httpx,
whose import cost the engine process about 0.1 CPU-s at every start, for nothing else of it.
"""

from __future__ import annotations

import codecs


class SSEReader:
    """Feed it bytes as they arrive; it returns the `data` of each event completed by them."""

    __slots__ = ("_data", "_event", "_last_id", "_partial", "_retry", "_text", "_trailing_cr")

    def __init__(self) -> None:
        # incremental, so that a UTF-8 character split across two reads is not mangled
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""  # the start of a line not ended yet
        self._trailing_cr = False  # the last read ended in CR: an LF may follow in the next
        # the event being read; the last id outlives it, as the standard says
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""
        self._retry: int | None = None

    def feed(self, data: bytes) -> list[str]:
        text = self._text.decode(data)
        if not text:
            return []
        return self._payloads(self._lines(text))

    def close(self) -> list[str]:
        """Events left when the stream ended without a final blank line."""
        tail = self._text.decode(b"", final=True)
        lines = self._lines(tail) if tail else []
        if self._partial or self._trailing_cr:
            lines.append(self._partial)
            self._partial, self._trailing_cr = "", False
        lines.append("")
        return self._payloads(lines)

    def _lines(self, text: str) -> list[str]:
        """The lines this text ends, the unended rest kept for the next."""
        if self._trailing_cr:
            text = "\r" + text
            self._trailing_cr = False
        if text.endswith("\r"):  # the line end may be CRLF, split across reads
            self._trailing_cr = True
            text = text[:-1]
        if not text:
            return []
        ended = text[-1] in "\r\n"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if ended:
            lines.pop()
        lines[0] = self._partial + lines[0]
        self._partial = "" if ended else lines.pop()
        return lines

    def _payloads(self, lines: list[str]) -> list[str]:
        payloads = []
        for line in lines:
            if not line:  # a blank line dispatches the event read so far, if there is one
                if self._event or self._data or self._last_id or self._retry is not None:
                    if self._event in ("", "message"):
                        payloads.append("\n".join(self._data))
                    self._event, self._data, self._retry = "", [], None
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
            elif name == "retry":
                try:
                    self._retry = int(value)
                except ValueError:
                    pass
        return payloads
