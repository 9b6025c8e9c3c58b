"""Incremental HTTP/1.1 response parser (pure): status line, headers, and the body's framing.

Bytes may be split anywhere. The body is framed by ``Transfer-Encoding: chunked`` (how streaming
servers send SSE), by ``Content-Length``, or runs until the connection closes; ``feed`` returns the
body bytes it completed, ``eof`` tells the parser the connection closed. :attr:`complete` is set
once the whole message was read; :attr:`keep_alive` says whether the connection may carry another.

Cost is linear in the bytes fed: the parser reads its buffer through an offset and never re-slices
what is left after each chunk; the unread rest (a partial chunk-size line, a partial head) is
moved once per ``feed``, and searches for a line end resume where the last one stopped.
:attr:`ResponseParser.copied_bytes` counts the bytes the buffer management copied (a 16 MB stream
of small chunks copies about its own size, not its size times the chunks per read) and
:attr:`ResponseParser.scanned_bytes` those searched for line ends (each about once).
"""

from __future__ import annotations

MAX_HEAD_BYTES = 65536


class HTTPProtocolError(Exception):
    """The server's bytes are not a valid HTTP/1.1 response."""


class ResponseParser:
    """One response at a time: feed bytes, get body pieces; see the module doc."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.complete = False
        self.keep_alive = False
        self.copied_bytes = 0  # bytes copied into the buffer (not counting the body pieces handed out)
        self.scanned_bytes = 0  # bytes searched for line ends
        self._buf = b""
        self._pos = 0  # the next unread byte of _buf
        self._scan = 0  # where the search for the next line end resumes (>= _pos)
        self._state = "head"  # head → length | chunk_size ⇄ chunk_data → trailers | close → done
        self._left = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Body bytes completed by ``data`` (one piece, or none); raises :class:`HTTPProtocolError`
        on malformed input."""
        if self.complete:
            if data:
                raise HTTPProtocolError("bytes after the end of the response")
            return []
        rest = len(self._buf) - self._pos
        if rest:  # join the unread rest with the new bytes in one copy
            self._buf = b"".join((memoryview(self._buf)[self._pos :], data))
            self.copied_bytes += len(self._buf)
        else:
            self._buf = bytes(data)
        self._scan = max(0, self._scan - self._pos)
        self._pos = 0
        out: list[bytes] = []
        while self._step(out):
            pass
        # one piece per read: the SSE parser then decodes and scans a read's events in one pass
        # instead of once per chunk (servers send one event per chunk), ~20% of the client's cost
        return [b"".join(out)] if len(out) > 1 else out

    def eof(self) -> None:
        """The connection closed: completes a read-until-close body, else raises if cut short."""
        if self._state == "close":
            self.complete, self._state, self.keep_alive = True, "done", False
        elif not self.complete:
            where = "in the headers" if self._state == "head" else "in the body"
            raise HTTPProtocolError(f"connection closed {where}")

    def _avail(self) -> int:
        return len(self._buf) - self._pos

    def _step(self, out: list[bytes]) -> bool:
        """Advance one state; False when more bytes are needed (or the message is done)."""
        state = self._state
        if state == "head":
            return self._head()
        if state == "length":
            if self._avail():
                out.append(self._take())
                if self._left == 0:
                    self._done()
            return False
        if state == "chunk_data":
            if self._left == 0:
                return self._chunk_end()
            if not self._avail():
                return False
            out.append(self._take())
            return self._left == 0
        if state == "chunk_size":
            line = self._line()
            if line is None:
                return False
            try:
                self._left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HTTPProtocolError(f"bad chunk size line {line[:40]!r}") from None
            self._state = "chunk_data" if self._left else "trailers"
            return True
        if state == "trailers":
            line = self._line()
            if line is None:
                return False
            if not line:
                self._done()
                return False
            return True
        if state == "close":
            if self._avail():
                out.append(self._buf[self._pos :])
                self._pos = len(self._buf)
            return False
        return False

    def _take(self) -> bytes:
        n = min(self._left, self._avail())
        piece = self._buf[self._pos : self._pos + n]  # the whole buffer is the same object, no copy
        self._pos += n
        self._left -= n
        return piece

    def _chunk_end(self) -> bool:
        if self._avail() < 2:
            return False
        if self._buf[self._pos : self._pos + 2] != b"\r\n":
            raise HTTPProtocolError("chunk data not followed by CRLF")
        self._pos = self._scan = self._pos + 2
        self._state = "chunk_size"
        return True

    def _find(self, sep: bytes) -> int:
        """Index of ``sep`` at or after the read offset, searching only bytes not searched before."""
        start = max(self._pos, self._scan)
        end = self._buf.find(sep, start)
        self.scanned_bytes += (end + len(sep) if end >= 0 else len(self._buf)) - start
        if end < 0:
            self._scan = max(self._pos, len(self._buf) - len(sep) + 1)
        return end

    def _line(self) -> bytes | None:
        end = self._find(b"\r\n")
        if end < 0:
            if self._avail() > MAX_HEAD_BYTES:
                raise HTTPProtocolError("line too long")
            return None
        line = self._buf[self._pos : end]
        self._pos = self._scan = end + 2
        return line

    def _head(self) -> bool:
        end = self._find(b"\r\n\r\n")
        if end < 0:
            if self._avail() > MAX_HEAD_BYTES:
                raise HTTPProtocolError(f"response head larger than {MAX_HEAD_BYTES} bytes")
            return False
        head = self._buf[self._pos : end].decode("latin-1")
        self._pos = self._scan = end + 4
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HTTPProtocolError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise HTTPProtocolError(f"bad header line {line[:80]!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if 100 <= status < 200:  # interim response (100 Continue): the real one follows
            return True
        self.status, self.headers = status, headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = (parts[0] == "HTTP/1.1" and "close" not in connection) or "keep-alive" in connection
        if status in (204, 304):
            self._done()
            return False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = "chunk_size"
        elif "content-length" in headers:
            try:
                self._left = int(headers["content-length"])
            except ValueError:
                raise HTTPProtocolError(f"bad Content-Length {headers['content-length']!r}") from None
            self._state = "length"
            if self._left == 0:
                self._done()
                return False
        else:
            self._state, self.keep_alive = "close", False
        return True

    def _done(self) -> None:
        self.complete, self._state = True, "done"
        if self._avail():
            raise HTTPProtocolError("bytes after the end of the response")
