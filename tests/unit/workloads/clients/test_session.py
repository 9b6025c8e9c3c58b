"""HTTPSession against a raw asyncio server: keep-alive reuse, a server closing idle connections,
a timeout closing its connection, and body pieces stamped when they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from workloads.clients.session import SendStamp, open_session, run_sync

SSE = b"data: a\n\ndata: [DONE]\n\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + f"{len(SSE):x}\r\n".encode()
    + SSE
    + b"\r\n0\r\n\r\n"
)


class Sink:
    def __init__(self) -> None:
        self.status = 0
        self.body = b""
        self.stamps: list[int] = []

    def on_head(self, status: int, _headers: Mapping[str, str]) -> None:
        self.status = status

    def on_body(self, piece: bytes, now_ns: int) -> bool:
        self.body += piece
        self.stamps.append(now_ns)
        return False


async def raw_server(close_after_s: float | None, stall: bool = False) -> tuple[asyncio.Server, list[int]]:
    """Answers each request with RESPONSE (or never, with ``stall``); closes each connection
    ``close_after_s`` after its response. Returns the server and a list counting connections."""
    opened: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                if stall:
                    await asyncio.sleep(30)
                writer.write(RESPONSE)
                await writer.drain()
                if close_after_s is not None:
                    await asyncio.sleep(close_after_s)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, opened


def url_of(server: asyncio.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/completions"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_keep_alive_reuses_one_connection_and_stamps_pieces(loop: str) -> None:
    async def main() -> tuple[list[Sink], list[int], list[SendStamp]]:
        server, opened = await raw_server(None)
        sinks, stamps = [Sink() for _ in range(3)], [SendStamp(lambda: 5) for _ in range(3)]
        async with server, open_session(1) as session:
            for sink, stamp in zip(sinks, stamps, strict=True):
                await session.post(url_of(server), b"{}", sink, stamp)
        return sinks, opened, stamps

    sinks, opened, stamps = run_sync(main(), loop=loop)
    assert len(opened) == 1
    assert all(s.status == 200 and s.body == SSE and set(s.stamps) == {5} for s in sinks)
    assert all(st.sent_ns == 5 for st in stamps)


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def main() -> tuple[list[Sink], list[int]]:
        server, opened = await raw_server(0.0)
        sinks = [Sink(), Sink()]
        async with server, open_session(1) as session:
            await session.post(url_of(server), b"{}", sinks[0], SendStamp(lambda: 1))
            await asyncio.sleep(0.2)  # the server has closed it by now
            await session.post(url_of(server), b"{}", sinks[1], SendStamp(lambda: 1))
        return sinks, opened

    sinks, opened = asyncio.run(main())
    assert len(opened) == 2 and all(s.body == SSE for s in sinks)


def test_a_timed_out_request_closes_its_connection() -> None:
    async def main() -> tuple[bool, int, list[int]]:
        server, opened = await raw_server(None, stall=True)
        async with server, open_session(1) as session:
            timed_out = False
            try:
                async with asyncio.timeout(0.2):
                    await session.post(url_of(server), b"{}", Sink(), SendStamp(lambda: 1))
            except TimeoutError:
                timed_out = True
            left = len(session._open)
        return timed_out, left, opened

    timed_out, left, opened = asyncio.run(main())
    assert timed_out and left == 0 and len(opened) == 1
