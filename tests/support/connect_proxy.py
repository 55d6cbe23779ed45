"""A small egress proxy, run as its own process, that records what passes through it.

    python tests/support/connect_proxy.py RECORD_DIR

prints ``listening <port>`` once it accepts connections on 127.0.0.1. ``CONNECT
host:port`` opens a tunnel (200, then bytes both ways); any other request is a
plaintext request a proxy could read, and is answered 405 — so a client that sends
an https target's request in the clear fails, and it shows. In RECORD_DIR:
``heads.log`` holds every request head received, ``<n>.up`` and ``<n>.down`` the
bytes of tunnel n from the client and to it. Standalone: no Hookline imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from pathlib import Path

RECORD = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
_tunnels = itertools.count(1)


def _record(name: str, data: bytes) -> None:
    with open(RECORD / name, "ab") as file:
        file.write(data)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: str) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await src.read(65536):
            _record(record, data)
            dst.write(data)
            await dst.drain()
    dst.close()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        writer.close()
        return
    _record("heads.log", head)
    method, _, rest = head.partition(b" ")
    if method != b"CONNECT":
        writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        writer.close()
        return
    host, _, port = rest.split(b" ", 1)[0].rpartition(b":")
    try:
        up_reader, up_writer = await asyncio.open_connection(host.strip(b"[]").decode(), int(port))
    except (OSError, ValueError):
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
        writer.close()
        return
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    n = next(_tunnels)
    await asyncio.gather(_pipe(reader, up_writer, f"{n}.up"), _pipe(up_reader, writer, f"{n}.down"))


async def main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
