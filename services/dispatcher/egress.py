"""The HTTP client deliveries go out through: pooled, time-bounded, SSRF-guarded.

SSRF at delivery time: the connector's resolver resolves the host, checks every
address against ``shared.target_policy`` and hands aiohttp only the allowed ones
(none left: the attempt fails with the refused addresses as its error),
so the TCP connection goes to an address that was checked — a DNS answer that
changes between a check and a connect (rebinding) cannot slip through. The URL's
host stays the ``Host`` header and the TLS server name. aiohttp never resolves IP
literals, so ``refusal_for_literal`` checks those before a request is made.

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

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from shared.settings import Settings
from shared.target_policy import Network, literal_address, parse_networks, refusal_reason


class RefusedTarget(OSError):
    """The target resolves to an address Hookline may not send to. An ``OSError`` so that
    aiohttp reports it as a connection (DNS) error instead of crashing the request."""


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
async def delivery_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    allowed = parse_networks(settings.allowed_target_cidrs)
    connector = aiohttp.TCPConnector(
        # Through a proxy aiohttp resolves only the proxy's own (often private) name.
        resolver=None if settings.egress_proxy else GuardedResolver(allowed),
        # The prefetch window already bounds POSTs in flight, and per endpoint the
        # dispatcher's gates do; a per-host cap would let one hanging endpoint starve
        # every other endpoint on the same host (a shared receiver, a SaaS inbox).
        limit=settings.dispatcher_prefetch,
        limit_per_host=0,
        ttl_dns_cache=10,
        enable_cleanup_closed=True,
    )
    timeout = aiohttp.ClientTimeout(total=settings.delivery_timeout, sock_connect=settings.connect_timeout)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        trust_env=False,  # the egress proxy is Hookline's setting, not HTTP_PROXY's
        auto_decompress=True,
        cookie_jar=aiohttp.DummyCookieJar(),  # receivers must not steer later requests
    )
    try:
        yield session
    finally:
        await session.close()
