"""The HTTP client deliveries go out through (``http1``): pooled, time-bounded, SSRF-guarded.

SSRF at delivery time: the client asks ``GuardedResolver`` for a URL host's addresses
and connects only to what it returns. The resolver normalises the host first
(``shared.target_policy``: every spelling of an IP literal — ``127.1``,
``2130706433``, ``[::ffff:7f00:1]`` — is the address it stands for and never reaches
the OS resolver; a host no resolver should see is refused), looks names up through
``CachingResolver`` (c-ares, cached, bounded), checks every address and hands out
only the allowed ones (none left: the attempt fails with the refused addresses as
its error). So the TCP connection goes to an address that was checked — a DNS
answer that changes between a check and a connect (rebinding) cannot slip through.
The URL's host as written stays the ``Host`` header and the TLS server name.

With ``HOOKLINE_EGRESS_PROXY`` the proxy makes the connection: the dispatcher still
resolves and checks the target before each request (``Sender._refusal``), but the
proxy resolves again, so the proxy must enforce its own egress policy (e.g. Stripe's
Smokescreen) to close the rebinding window. That is also what lets receivers
allow-list one address.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiohttp.abc import AbstractResolver, ResolveResult

from services.dispatcher.http1 import Http1Client, ResponseLimits
from services.dispatcher.resolver import CachingResolver, DnsPolicy
from shared.settings import Settings
from shared.target_policy import (
    IPAddress,
    Network,
    TargetRefused,
    address_refusal,
    normalise_host,
    parse_networks,
    refusal_reason,
)


class RefusedTarget(OSError):
    """The target is, or resolves to, an address Hookline may not send to. An ``OSError``
    so that the client reports it as a connection (DNS) error instead of crashing."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver interface over ``CachingResolver`` and the target policy."""

    def __init__(self, allowed: Sequence[Network], dns: CachingResolver | None = None) -> None:
        self._allowed = tuple(allowed)
        self._dns = dns if dns is not None else CachingResolver()

    async def addresses(self, host: str) -> list[IPAddress]:
        """The allowed addresses of ``host`` as a URL names it; ``RefusedTarget`` when
        none is allowed or the host is no host, ``OSError`` when DNS fails."""
        try:
            name, literal = normalise_host(host)
        except TargetRefused as exc:
            raise RefusedTarget(str(exc)) from None
        if literal is not None:
            reason = address_refusal(host, literal, self._allowed)
            if reason:
                raise RefusedTarget(reason)
            return [literal]
        allowed, refused = [], []
        for address in await self._dns.lookup(name):
            reason = refusal_reason(address, self._allowed)
            if reason:
                refused.append(f"{address} ({reason})")
            else:
                allowed.append(address)
        if not allowed:
            raise RefusedTarget(f"{host} resolves only to addresses not allowed: {', '.join(refused)}")
        return allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await self.addresses(host):
            found = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            if family in (socket.AF_UNSPEC, found):
                results.append(
                    ResolveResult(
                        hostname=host,
                        host=str(address),
                        port=port,
                        family=found,
                        proto=0,
                        flags=socket.AI_NUMERICHOST,
                    )
                )
        if not results:
            raise RefusedTarget(f"{host} has no allowed address of family {family.name}")
        return results

    async def close(self) -> None:
        await self._dns.close()


def guarded_resolver(settings: Settings) -> GuardedResolver:
    return GuardedResolver(
        parse_networks(settings.allowed_target_cidrs),
        CachingResolver(settings.dns_servers, DnsPolicy(timeout=settings.dns_timeout)),
    )


@asynccontextmanager
async def delivery_client(settings: Settings) -> AsyncIterator[Http1Client]:
    resolver = guarded_resolver(settings)
    client = Http1Client(
        # Through a proxy the client connects only to the proxy (never asking the
        # resolver); ``Sender._refusal`` uses the resolver to check the target first.
        resolver=resolver,
        connect_timeout=settings.connect_timeout,
        timeout=settings.delivery_timeout,
        proxy=settings.egress_proxy,
        limits=ResponseLimits.of(settings),
    )
    try:
        yield client
    finally:
        await client.close()
        await resolver.close()
