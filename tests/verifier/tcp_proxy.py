"""The suite's TCP proxy, plus a blackhole: connections stay open but nothing is
forwarded, so a publish frame is lost in flight and its confirm never comes back."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from tests.support.tcp_proxy import TcpProxy


class BlackholeProxy(TcpProxy):
    forwarding = True

    def blackhole(self) -> None:
        self.forwarding = False

    async def restore(self) -> None:
        self.forwarding = True
        await super().restore()

    def url(self, reconnect_interval: float = 0.2) -> str:
        return f"{self.amqp_url}?reconnect_interval={reconnect_interval}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if self.forwarding:
                    writer.write(data)
                    await writer.drain()
        writer.close()
