"""The router's HTTP server: hand-written HTTP/1.1 with keep-alive, routes and request bodies.

``GET /health`` (``/``, ``/ping``), ``GET /info``, ``GET /metrics``, ``POST /generate``,
``POST /generate_stream``, ``POST /`` (compat, ``stream``); another method on a route → 405, another
path → 404. A body is JSON (415 otherwise, 413 above ``--payload-limit``, 400 when it does not parse)
deserialized as serde would (422 text/plain from axum's Json extractor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from typing import Any

from engines.standins.tgi.router_batching import Router
from engines.standins.tgi.router_generate import generate, generate_stream
from engines.standins.tgi.router_validation import DeserializeError, deserialize_request
from engines.standins.tgi.router_wire import HTTPError, dumps, json_error, read_body, respond


class HTTPServer:
    def __init__(self, router: Router, payload_limit: int) -> None:
        self.router = router
        self.payload_limit = payload_limit

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # axum 0.7.9's ``axum::serve`` leaves Nagle on (no TCP_NODELAY): on a keep-alive connection
            # the client's delayed ACK holds the next small SSE event back (up to ~40 ms on Linux).
            nodelay = os.environ.get("TGI_STANDIN_TCP_NODELAY", "0") == "1"
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if nodelay else 0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await read_body(reader, headers)
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                path = target.split("?", 1)[0]
                if not await self.dispatch(method, path, headers, body, writer, keep):
                    break
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def dispatch(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
        keep: bool,
    ) -> bool:
        r = self.router
        get_routes = {"/", "/health", "/ping", "/info", "/metrics"}
        post_routes = {"/", "/generate", "/generate_stream"}
        try:
            if method == "GET" and path in get_routes:
                if path in ("/", "/health", "/ping"):
                    if await r.health():
                        await respond(writer, 200, b"", None)
                    else:
                        raise json_error(503, "unhealthy", "healthcheck")
                elif path == "/info":
                    await respond(writer, 200, dumps(r.info()), "application/json")
                else:
                    await respond(writer, 200, r.m.render().encode(), "text/plain; charset=utf-8")
                return True
            if method == "POST" and path in post_routes:
                req = self.json_body(headers, body, compat=path == "/")
                if path == "/generate_stream" or (path == "/" and req.get("stream")):
                    return await generate_stream(r, req, writer)
                await generate(r, req, writer)
                return True
            if path in get_routes | post_routes:
                raise HTTPError(405, b"", "")
            raise HTTPError(404, b"", "")
        except HTTPError as err:
            await respond(writer, err.status, err.body, err.content_type or None)
            return True

    def json_body(self, headers: dict[str, str], body: bytes, *, compat: bool) -> dict[str, Any]:
        if len(body) > self.payload_limit:
            raise HTTPError(413, b"length limit exceeded")
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if not (
            ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))
        ):
            raise HTTPError(415, b"Expected request with `Content-Type: application/json`")
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise HTTPError(400, f"Failed to parse the request body as JSON: {exc}".encode()) from None
        try:
            return deserialize_request(obj, compat=compat)
        except DeserializeError as exc:
            msg = f"Failed to deserialize the JSON body into the target type: {exc}"
            raise HTTPError(422, msg.encode()) from None
