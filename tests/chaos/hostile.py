"""Receivers written to misbehave, as raw asyncio servers: what a stranger's server on
the internet can answer a webhook with. One loopback port per behaviour, so each is an
endpoint of its own and has its own connection pool in the dispatcher.

They run in a process of their own (``python -m tests.chaos.hostile NAME...``, started
by ``HostileReceivers``): an endless header streamed as fast as the socket takes it
costs CPU, and in the test's own event loop it would slow the healthy receiver whose
latency the test measures. The process prints ``{name: port}`` as one JSON line once
it listens, and ``{name: requests served}`` when it gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress

from aiohttp import web

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]

_CHUNK = b"a" * 16384

# Retry-After values a sloppy or hostile server sends on 429/503, none of them a usable
# delay: a superscript two (byte 0xB2, which str.isdigit() accepts), a negative number,
# a float that overflows, a delay of 3 * 10^12 years, an impossible date and a date whose
# year overflows datetime.
JUNK_RETRY_AFTER = {
    "retry-after-b2": b"\xb2",
    "retry-after-minus-1": b"-1",
    "retry-after-1e309": b"1e309",
    "retry-after-20-digits": b"9" * 20,
    "retry-after-impossible-date": b"Wed, 31 Feb 2026 25:61:99 GMT",
    "retry-after-year-overflow": b"Fri, 31 Dec 99999999999 23:59:59 GMT",
}


async def polite(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
    """A well-behaved receiver: 200 at once, connection kept alive."""
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    await writer.drain()
    return True


async def endless_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
    """A status line, then one header value that never ends."""
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-endless: ")
    await _stream_forever(writer, lambda: _CHUNK)
    return False


async def endless_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
    """A 200 whose chunked body never ends."""
    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK)
    await _stream_forever(writer, lambda: chunk)
    return False


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
    """Takes the request and never answers; waits for the client to give up."""
    with suppress(ConnectionError):
        while await reader.read(4096):
            pass
    return False


async def one_byte_a_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
    """A valid response, dripped one byte a second."""
    for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok":
        if writer.is_closing():
            break
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1)
    return False


async def garbage_status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
    """A status line that is not HTTP, binary bytes included, then a hang-up."""
    writer.write(b"HTTP/1.1 2\xff\xfe OK?\x01\r\nx: y\r\n\r\n")
    await writer.drain()
    return False


def junk_retry_after(value: bytes) -> Behaviour:
    """429 and 503 in turn, each with the same junk ``Retry-After``, kept alive."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        status = b"429 Too Many Requests" if n % 2 else b"503 Service Unavailable"
        writer.write(b"HTTP/1.1 %s\r\nretry-after: %s\r\ncontent-length: 4\r\n\r\nbusy" % (status, value))
        await writer.drain()
        return True

    return answer


HOSTILE: dict[str, Behaviour] = {
    "endless-header": endless_header,
    "endless-body": endless_body,
    "silent": silent,
    "one-byte-a-second": one_byte_a_second,
    "garbage-status": garbage_status,
    **{name: junk_retry_after(value) for name, value in JUNK_RETRY_AFTER.items()},
}


def behaviour(name: str) -> Behaviour:
    """``polite`` and ``polite-<anything>`` are well-behaved stand-ins, the rest hostile."""
    return polite if name.split("-")[0] == "polite" else HOSTILE[name]


async def _stream_forever(writer: asyncio.StreamWriter, chunk: Callable[[], bytes]) -> None:
    with suppress(ConnectionError):
        while not writer.is_closing():
            writer.write(chunk())
            await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request (head and Content-Length body); False when the client went away."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        return False
    return True


def _connection_handler(name: str, served: Counter[str]):  # type: ignore[no-untyped-def]
    act = behaviour(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await _read_request(reader):
                served[name] += 1
                if not await act(reader, writer, served[name]):
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    return handle


async def serve(names: list[str]) -> None:
    served: Counter[str] = Counter()
    servers = {
        name: await asyncio.start_server(_connection_handler(name, served), "127.0.0.1", 0) for name in names
    }
    ports = {name: server.sockets[0].getsockname()[1] for name, server in servers.items()}
    print(json.dumps(ports), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(json.dumps(dict(served)), flush=True)


class HostileReceivers:
    """The receivers' process, seen from the test: ``urls`` by name, and at ``close``
    how many requests each behaviour served."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.urls: dict[str, str] = {}
        self.served: dict[str, int] = {}
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> HostileReceivers:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.chaos.hostile", *self.names, stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        ports = json.loads(line)
        self.urls = {name: f"http://127.0.0.1:{port}/{name}" for name, port in ports.items()}
        return self

    async def close(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        assert process.stdout is not None
        process.send_signal(signal.SIGTERM)
        with suppress(TimeoutError, ValueError):
            self.served = json.loads(await asyncio.wait_for(process.stdout.readline(), 10))
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


class HealthyReceiver:
    """A normal fast receiver (aiohttp, in the test's process): it answers 200 at once and
    notes when each message (``webhook-id``) first arrived on each path."""

    def __init__(self) -> None:
        self.arrivals: dict[str, dict[str, float]] = {}  # path -> msg id -> unix time
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> HealthyReceiver:
        app = web.Application()
        app.router.add_post("/{path}", self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def _receive(self, request: web.Request) -> web.Response:
        arrived = time.time()
        await request.read()
        seen = self.arrivals.setdefault(request.match_info["path"], {})
        seen.setdefault(request.headers.get("webhook-id", ""), arrived)
        return web.Response(text="ok")

    async def wait_for(self, path: str, msg_ids: set[str], timeout: float) -> set[str]:
        """Wait until every message arrived on ``path`` or the time is up; what is missing."""
        deadline = time.monotonic() + timeout
        while (missing := msg_ids - self.arrivals.get(path, {}).keys()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return missing

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1:]))
