"""A real TCP proxy the tests can cut: the network between a service and a broker or
database goes away and comes back, with no mock on either side."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from yarl import URL


class TcpProxy:
    def __init__(
        self, target_host: str, target_port: int, listen_port: int = 0, *, hold: float = 0.0
    ) -> None:
        self.target = (target_host, target_port)
        self.port = listen_port
        self.hold = hold  # seconds each new client waits before it is put through (a slow network)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._held: set[asyncio.Task[None]] = set()  # clients still waiting out ``hold``

    @classmethod
    async def to_broker(cls, amqp_url: str, *, hold: float = 0.0) -> TcpProxy:
        """A started proxy in front of the broker ``amqp_url`` names."""
        broker = URL(amqp_url)
        return await cls(broker.host or "127.0.0.1", broker.port or 5672, hold=hold).start()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held = asyncio.current_task()
        assert held is not None
        self._held.add(held)
        try:
            await asyncio.sleep(self.hold)
        except asyncio.CancelledError:  # cut while held: the client is dropped too
            writer.transport.abort()
            raise
        finally:
            self._held.discard(held)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    @property
    def open_connections(self) -> int:
        """Clients put through whose connection is not closed yet (a direction still piping)."""
        return (len(self._pipes) + 1) // 2

    async def cut(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in [*self._pipes, *self._held]:
            task.cancel()

    async def restore(self) -> None:
        await self.start()

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"
