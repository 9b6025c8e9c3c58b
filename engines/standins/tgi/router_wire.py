"""HTTP/1.1 as the router speaks it (hyper via axum 0.7.9): status lines, headers, bodies, errors."""

from __future__ import annotations

import asyncio
import json
from email.utils import formatdate
from typing import Any


class HTTPError(Exception):
    def __init__(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def dumps(obj: Any) -> bytes:
    """serde_json's compact form."""
    return json.dumps(obj, separators=(",", ":")).encode()


def json_error(status: int, error: str, error_type: str) -> HTTPError:
    body = dumps({"error": error, "error_type": error_type})
    return HTTPError(status, body, "application/json")


def ms(seconds: float) -> str:
    return str(int(seconds * 1000))


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return out
            out += await reader.readexactly(size)
            await reader.readexactly(2)
    n = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(n) if n else b""


def head_bytes(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"date: {formatdate(usegmt=True)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str | None,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    headers = ([("content-type", content_type)] if content_type else []) + (extra or [])
    headers.append(("content-length", str(len(body))))
    writer.write(head_bytes(status, headers) + body)
    await writer.drain()
