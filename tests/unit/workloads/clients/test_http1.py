"""The HTTP/1.1 response parser: framing, byte-wise splits, keep-alive, malformed input."""

from __future__ import annotations

import pytest

from workloads.clients.http1 import HTTPProtocolError, ResponseParser

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"f\r\ndata: hello\r\n\r\n\r\n"
    b"12;ext=1\r\ndata: [DONE]\r\n\r\n\r\n\r\n"
    b"0\r\nX-Trailer: t\r\n\r\n"
)
BODY = b"data: hello\r\n\r\ndata: [DONE]\r\n\r\n\r\n"


def feed_all(parser: ResponseParser, data: bytes, step: int) -> bytes:
    out = b""
    for i in range(0, len(data), step):
        out += b"".join(parser.feed(data[i : i + step]))
    return out


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_chunked_body_split_anywhere(step: int) -> None:
    parser = ResponseParser()
    assert feed_all(parser, CHUNKED, step) == BODY
    assert parser.complete and parser.keep_alive and parser.status == 200
    assert parser.headers["content-type"] == "text/event-stream"


def test_content_length_and_connection_close() -> None:
    parser = ResponseParser()
    head = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
    assert feed_all(parser, head + b"oops!", 2) == b"oops!"
    assert parser.complete and not parser.keep_alive and parser.status == 400


def test_read_until_close_completes_at_eof() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.0 200 OK\r\n\r\nabc") == [b"abc"]
    assert parser.feed(b"def") == [b"def"] and not parser.complete
    parser.eof()
    assert parser.complete and not parser.keep_alive


def test_interim_response_is_skipped_and_204_has_no_body() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n") == []
    assert parser.complete and parser.status == 204


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "not followed by CRLF"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", "after the end"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length"),
    ],
)
def test_malformed_responses_raise(data: bytes, match: str) -> None:
    with pytest.raises(HTTPProtocolError, match=match):
        ResponseParser().feed(data)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Le", "in the headers"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "in the body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", "in the body"),
    ],
)
def test_eof_before_the_end_raises(data: bytes, where: str) -> None:
    parser = ResponseParser()
    parser.feed(data)
    with pytest.raises(HTTPProtocolError, match=where):
        parser.eof()
