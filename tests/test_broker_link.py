"""shared.amqp's connections, against the real broker: a connect cut short (a service shut
down, a probe timed out) leaves no connection behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.amqp import BrokerLink
from tests.conftest import AMQP_URL
from tests.support.tcp_proxy import TcpProxy


def connection_flag() -> tuple[asyncio.Event, Callable[[object], Awaitable[None]]]:
    """An event, and a link's ``on_connect`` that sets it."""
    connected = asyncio.Event()

    async def on_connect(_connection: object) -> None:
        connected.set()

    return connected, on_connect


async def test_a_link_closed_while_still_connecting_leaves_no_connection_behind() -> None:
    # Given a broker reached over a network that holds each new connection for a second
    proxy = await TcpProxy.to_broker(AMQP_URL, hold=1.0)
    connected, on_connect = connection_flag()
    try:
        # When a service stops while its link is still connecting
        async with BrokerLink(proxy.amqp_url, "hookline-test-link", on_connect):
            await asyncio.sleep(0.2)
        # Then the attempt does not go on to connect once the network lets it through
        await asyncio.sleep(2.0)
        assert not connected.is_set()
        assert proxy.open_connections == 0
    finally:
        await proxy.cut()


async def test_a_link_connects_through_a_slow_network() -> None:
    # The same network, waited for: the hold delays the connection, it does not refuse it
    proxy = await TcpProxy.to_broker(AMQP_URL, hold=0.5)
    connected, on_connect = connection_flag()
    try:
        async with BrokerLink(proxy.amqp_url, "hookline-test-link", on_connect) as link:
            await asyncio.wait_for(connected.wait(), 10)
            assert link.connected
            assert proxy.open_connections == 1
    finally:
        await proxy.cut()


async def test_a_link_closed_while_setting_up_its_connection_closes_it() -> None:
    # Given a link whose set-up (declaring its topology, say) is still under way
    proxy = await TcpProxy.to_broker(AMQP_URL)
    setting_up = asyncio.Event()

    async def on_connect(_connection: object) -> None:
        setting_up.set()
        await asyncio.Event().wait()

    try:
        async with BrokerLink(proxy.amqp_url, "hookline-test-link", on_connect) as link:
            await asyncio.wait_for(setting_up.wait(), 10)
            assert proxy.open_connections == 1
        # When the service stops then, the connection is closed, not left to nobody
        await asyncio.sleep(0.5)
        assert not link.connected
        assert proxy.open_connections == 0
    finally:
        await proxy.cut()
