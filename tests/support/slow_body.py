"""A client that promises a request body and stops sending part way: what a slow or
malicious uploader does to hold a server's connection open."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

from tests.chaos.raw_http import request_head


@dataclass
class Stalled:
    status: int
    body: dict[str, object]
    closed_after: float  # seconds from the first byte sent to the server's close


async def stall_body(url: str, path: str, headers: dict[str, str], *, promised: int = 100) -> Stalled:
    """POST a head promising ``promised`` bytes, send 10 of them, and read until the server
    closes (at most 30 s)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = {"Content-Length": str(promised), "Content-Type": "application/json", **headers}
    started = time.monotonic()
    writer.write(request_head("POST", path, head) + b'{"name": "')
    try:
        async with asyncio.timeout(30):
            answer = await reader.read()  # everything, until the server closes
    finally:
        writer.transport.abort()
    closed_after = time.monotonic() - started
    response_head, _, body = answer.partition(b"\r\n\r\n")
    return Stalled(int(response_head.split()[1]), orjson.loads(body), closed_after)
