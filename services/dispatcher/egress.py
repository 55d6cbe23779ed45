"""The HTTP client deliveries go out through (``http1``): pooled, time-bounded, SSRF-guarded.

SSRF at delivery time: the client's resolver resolves the host, checks every
address against ``shared.target_policy`` and hands the client only the allowed ones
(none left: the attempt fails with the refused addresses as its error),
so the TCP connection goes to an address that was checked — a DNS answer that
changes between a check and a connect (rebinding) cannot slip through. The URL's
host stays the ``Host`` header and the TLS server name. IP literals are not
resolved, so ``refusal_for_literal`` checks those before a request is made.

With ``HOOKLINE_EGRESS_PROXY`` the proxy makes the connection: the dispatcher still
resolves and checks the target before each request, but the proxy resolves again,
so the proxy must enforce its own egress policy (e.g. Stripe's Smokescreen) to close
the rebinding window. That is also what lets receivers allow-list one address.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from ipaddress import ip_address

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.dispatcher.http1 import Http1Client, ResponseLimits
from shared.settings import Settings
from shared.target_policy import Network, literal_address, parse_networks, refusal_reason


class RefusedTarget(OSError):
    """The target resolves to an address Hookline may not send to. An ``OSError`` so that
    the client reports it as a connection (DNS) error instead of crashing the request."""


class GuardedResolver(AbstractResolver):
    def __init__(self, allowed: Sequence[Network]) -> None:
        self._inner = DefaultResolver()
        self._allowed = tuple(allowed)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed, refused = [], []
        for result in results:
            reason = refusal_reason(ip_address(result["host"]), self._allowed)
            if reason:
                refused.append(f"{result['host']} ({reason})")
            else:
                allowed.append(result)
        if not allowed:
            raise RefusedTarget(f"{host} resolves only to addresses not allowed: {', '.join(refused)}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def refusal_for_literal(host: str, allowed: Sequence[Network]) -> str | None:
    """Why an IP-literal host may not be a target (None for names and allowed IPs)."""
    address = literal_address(host)
    if address is None:
        return None
    reason = refusal_reason(address, allowed)
    return f"{address} is {reason}" if reason else None


@asynccontextmanager
async def delivery_client(settings: Settings) -> AsyncIterator[Http1Client]:
    allowed = parse_networks(settings.allowed_target_cidrs)
    client = Http1Client(
        # Through a proxy the client resolves only the proxy's own (often private) name.
        resolver=None if settings.egress_proxy else GuardedResolver(allowed),
        connect_timeout=settings.connect_timeout,
        timeout=settings.delivery_timeout,
        proxy=settings.egress_proxy,
        limits=ResponseLimits.of(settings),
    )
    try:
        yield client
    finally:
        await client.close()
