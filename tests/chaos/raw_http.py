"""Requests written byte by byte on a raw socket: bodies bigger than anyone should
send, and clients that trickle. aiohttp's client would buffer or give up first."""

from __future__ import annotations

import asyncio
from contextlib import suppress


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_status(reader: asyncio.StreamReader) -> int | None:
    """The status code of the first response line, or None if the server just closed."""
    with suppress(ConnectionError, asyncio.IncompleteReadError):
        line = await reader.readline()
        if line.startswith(b"HTTP/1."):
            return int(line.split()[1])
    return None


async def send_big_body(
    port: int, path: str, headers: dict[str, str], size: int, *, chunked: bool
) -> tuple[int | None, int]:
    """POST ``size`` bytes of JSON-looking body in 64 KiB pieces, stopping as soon as the
    server answers or hangs up; (status, bytes of body actually sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}
    writer.write(request_head("POST", path, {**headers, "Content-Type": "application/json", **framing}))
    status_task = asyncio.create_task(read_status(reader))
    piece = b'{"eventType":"big","payload":{"x":"' + b"a" * (64 * 1024 - 40)
    sent = 0
    try:
        while sent < size and not status_task.done():
            part = piece[: size - sent]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
            sent += len(part)
        if chunked and not status_task.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # the server hung up on us mid-body: that is a refusal too
    try:
        status = await asyncio.wait_for(status_task, 10)
    finally:
        writer.transport.abort()
    return status, sent


class Trickler:
    """A client that opens a request and then sends one byte every ``every`` seconds."""

    def __init__(self, port: int, head: bytes, every: float) -> None:
        self.port, self.head, self.every = port, head, every
        self.closed_by_server = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self, head_first: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            # Either the whole head at once and then a body byte by byte (Content-Length
            # promised), or the head itself byte by byte.
            rest = self.head
            if head_first:
                writer.write(self.head)
                rest = b"{" * 100_000
            for byte in rest:
                writer.write(bytes([byte]))
                await writer.drain()
                if reader.at_eof():
                    self.closed_by_server = True
                    return
                await asyncio.sleep(self.every)
        except ConnectionError:
            self.closed_by_server = True
        finally:
            writer.transport.abort()

    def start(self, *, head_first: bool) -> None:
        self._task = asyncio.create_task(self._run(head_first))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
