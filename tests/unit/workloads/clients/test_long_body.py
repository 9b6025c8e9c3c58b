"""Long bodies cost linear work: the parsers' own counters of copied and scanned bytes, never a
timing (the time per byte at 1 MB against 16 MB is benchmarks/long_context.py's figure)."""

from __future__ import annotations

import json

from workloads.clients.http1 import ResponseParser
from workloads.clients.sse import SSEParser

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
READ = 65536  # what one socket read delivers at most (uvloop / asyncio read size)


def _event(k: int) -> bytes:
    chunk = {"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": f" w{k % 1000}"}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _chunked(events: list[bytes]) -> bytes:
    return HEAD + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"


def _feed(parser: ResponseParser, data: bytes, step: int) -> bytes:
    out = []
    for i in range(0, len(data), step):
        out.extend(parser.feed(data[i : i + step]))
    return b"".join(out)


def test_many_small_chunks_per_read_copy_and_scan_each_byte_about_once() -> None:
    events = [_event(k) for k in range(30_000)]  # ~4 MB, ~450 chunks per 64 KB read
    stream = _chunked(events)
    parser = ResponseParser()
    assert _feed(parser, stream, READ) == b"".join(events) and parser.complete
    # re-slicing the rest after every chunk would copy ~32 KB per chunk: ~1 GB here
    assert parser.copied_bytes <= 1.01 * len(stream)
    assert parser.scanned_bytes <= 1.01 * len(stream)


def test_one_long_chunk_over_many_reads_copies_nothing() -> None:
    body = b"data: " + b"w1 " * 1_000_000 + b"\n\n"  # one 3 MB event in one chunk
    stream = HEAD + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    parser = ResponseParser()
    assert _feed(parser, stream, READ) == body and parser.complete
    assert parser.copied_bytes < 64  # only a CRLF or a size line split between reads
    assert parser.scanned_bytes < 2 * len(HEAD) + 64


def test_head_and_size_lines_split_into_bytes_are_scanned_once() -> None:
    stream = _chunked([_event(k) for k in range(50)])
    parser = ResponseParser()
    assert _feed(parser, stream, 1)
    assert parser.complete and parser.scanned_bytes <= 1.01 * len(stream)


def test_content_length_body_over_many_reads_copies_nothing() -> None:
    body = b"x" * 4_000_000
    stream = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    parser = ResponseParser()
    assert _feed(parser, stream, READ) == body and parser.complete and parser.copied_bytes == 0


def test_sse_line_in_many_pieces_is_joined_once() -> None:
    data = "w7 " * 400_000  # a 1.2 MB event (a long prompt echoed back, a large usage object)
    raw = f"data: {data}\n\n".encode()
    parser = SSEParser()
    events = []
    for i in range(0, len(raw), 1024):
        events.extend(parser.feed(raw[i : i + 1024]))
    assert [e.data for e in events] == [data]
    # joining the pieces on every read would copy ~600 MB
    assert parser.copied_chars <= len(raw)


def test_sse_many_events_copy_only_the_lines_cut_by_a_read() -> None:
    raw = b"".join(_event(k) for k in range(30_000))
    parser = SSEParser()
    n = 0
    for i in range(0, len(raw), READ):
        n += len(parser.feed(raw[i : i + READ]))
    assert n == 30_000 and not parser.close()
    assert parser.copied_chars <= (len(raw) // READ + 1) * 200  # one event line per read boundary
