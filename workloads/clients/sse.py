"""Incremental Server-Sent-Events parser (WHATWG HTML "event stream" rules), shared by all clients.

Bytes may be split anywhere: inside a UTF-8 sequence, inside a line, between ``\\r`` and ``\\n``.
Lines end with ``\\n``, ``\\r\\n`` or ``\\r``; a blank line dispatches the event being built; lines
starting with ``:`` are comments; several ``data:`` lines are joined with ``\\n``; a leading BOM is
dropped. An event still being built when the stream ends is discarded and :attr:`SSEParser.truncated`
is set, so callers can tell a cut stream from a complete one.

Cost is linear in the bytes fed: only the new text is searched for line ends, and a line that
arrives in many pieces is kept as a list of pieces and joined once, when its end arrives
(:attr:`SSEParser.copied_chars` counts the characters those joins copied), so a long event (a
128K-token prompt echoed back, a large usage object) split over many reads is not re-copied and
re-scanned with every read.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event; ``id`` is the last event id seen on the stream (None if never set)."""

    event: str
    data: str
    id: str | None = None


class SSEParser:
    """Feed raw bytes, get complete events back; call :meth:`close` at end of stream."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []  # pieces of the line being read (no line end yet)
        self.copied_chars = 0  # characters copied joining a line's pieces
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._at_start = True
        self._skip_lf = False
        self._closed = False
        self._truncated = False

    @property
    def truncated(self) -> bool:
        """True once :meth:`close` found a partial line, an undispatched event or partial UTF-8."""
        return self._truncated

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events it completed (possibly none)."""
        if self._closed:
            raise RuntimeError("SSEParser.feed() called after close()")
        return self._consume(self._decoder.decode(chunk), final=False)

    def close(self) -> list[SSEEvent]:
        """End of stream: return events completed by the flush, discard (and flag) any partial one."""
        if self._closed:
            return []
        self._closed = True
        # A partial UTF-8 sequence flushes as U+FFFD into the buffer, so it counts as truncation.
        events = self._consume(self._decoder.decode(b"", final=True), final=True)
        if self._pending or self._data or self._event:
            self._truncated = True
        self._pending, self._data, self._event = [], [], ""
        return events

    def _consume(self, text: str, *, final: bool) -> list[SSEEvent]:
        if text and self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if self._at_start and text:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        events: list[SSEEvent] = []
        pending = self._pending
        pos = 0
        for match in _LINE_END.finditer(text):
            line = text[pos : match.start()]
            if pending:  # the line began in an earlier chunk: join its pieces once
                pending.append(line)
                line = "".join(pending)
                self.copied_chars += len(line)
                pending.clear()
            pos = match.end()
            if match.group() == "\r" and pos == len(text) and not final:
                self._skip_lf = True  # a "\n" starting the next chunk belongs to this line end
            event = self._line(line)
            if event is not None:
                events.append(event)
        if pos < len(text):
            pending.append(text[pos:])
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        # "retry" and unknown fields are ignored, as the spec says.
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SSEEvent(event=event or "message", data="\n".join(data), id=self._last_id)
