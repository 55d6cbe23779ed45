"""A client that promises a request body and stops sending part way: what a slow or
malicious uploader does to hold a server's connection open."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson


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
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {promised}",
        "Content-Type: application/json",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    started = time.monotonic()
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"name": "')
    try:
        async with asyncio.timeout(30):
            answer = await reader.read()  # everything, until the server closes
    finally:
        writer.transport.abort()
    closed_after = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    return Stalled(int(head.split()[1]), orjson.loads(body), closed_after)
