"""SSE parser: chunking-independence, line endings, multi-line data, comments, truncation."""

from __future__ import annotations

import pytest

from workloads.clients.sse import SSEEvent, SSEParser

STREAM = (
    "\ufeff: keep-alive comment\n"
    'data: {"text": "héllo 中文"}\n\n'
    "event: update\nid: 7\ndata: line one\ndata:line two\ndata\n\n"
    "retry: 100\nunknown: x\n\n"
    "data: [DONE]\n\n"
).encode()
EXPECTED = [
    SSEEvent("message", '{"text": "héllo 中文"}', None),
    SSEEvent("update", "line one\nline two\n", "7"),
    SSEEvent("message", "[DONE]", "7"),
]


def parse(chunks: list[bytes]) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    events = [e for c in chunks for e in parser.feed(c)]
    return events + parser.close(), parser


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_whole_equals_byte_by_byte_for_every_line_ending(newline: str) -> None:
    raw = STREAM.decode().replace("\n", newline).encode()
    whole, parser_whole = parse([raw])
    split, parser_split = parse([raw[i : i + 1] for i in range(len(raw))])
    assert whole == split == EXPECTED
    assert not parser_whole.truncated and not parser_split.truncated


def test_every_two_way_split_gives_the_same_events() -> None:
    raw = STREAM.decode().replace("\n", "\r\n").encode()
    for cut in range(len(raw) + 1):
        events, parser = parse([raw[:cut], raw[cut:]])
        assert events == EXPECTED, cut
        assert not parser.truncated


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    # The CR already ended the line; the LF must not be taken for a blank (dispatching) line.
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\r\n") == [SSEEvent("message", "a")]


def test_bare_cr_dispatches_without_waiting_for_more_bytes() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == [SSEEvent("message", "a")]


def test_multiline_data_joined_with_newline_and_single_leading_space_stripped() -> None:
    events, _ = parse([b"data:  two spaces\ndata:none\n\n"])
    assert events == [SSEEvent("message", " two spaces\nnone")]


def test_comments_and_event_without_data_are_not_dispatched() -> None:
    events, parser = parse([b": ping\n\nevent: lonely\n\n:another\n\n"])
    assert events == []
    assert not parser.truncated


def test_id_persists_and_id_with_nul_is_ignored() -> None:
    events, _ = parse([b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n"])
    assert [e.id for e in events] == ["1", "1"]


def test_mid_utf8_split() -> None:
    raw = "data: 中\n\n".encode()
    cut = raw.index("中".encode()) + 1
    events, parser = parse([raw[:cut], raw[cut:]])
    assert events == [SSEEvent("message", "中")]
    assert not parser.truncated


@pytest.mark.parametrize(
    "tail",
    [b"data: partial", b"data: complete line\n", b"event: x\n", b"\xe4\xb8"],
)
def test_truncated_stream_discards_partial_event_and_flags_it(tail: bytes) -> None:
    events, parser = parse([b"data: first\n\n", tail])
    assert events == [SSEEvent("message", "first")]
    assert parser.truncated


def test_trailing_cr_is_flushed_at_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\r") == [SSEEvent("message", "a")]
    assert parser.close() == []
    assert not parser.truncated


def test_feed_after_close_is_an_error() -> None:
    parser = SSEParser()
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed(b"data: x\n\n")
