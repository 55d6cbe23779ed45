"""Who is posting: the client address behind trusted proxies, and a source's allowlist.

Pure functions, no I/O. ``X-Forwarded-For`` is read from the right: each hop is
believed only while the address that told it is a trusted proxy, so a client can't
choose its own address by sending the header itself (the left-most entry is whatever
the client wrote).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Sequence[Network]
) -> Address | None:
    """The client's address, or None when it can't be known (an unparseable hop)."""
    current = _parse(peer) if peer else None
    if current is None:
        return None
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    while hops and _trusted(current, trusted_proxies):
        current = _parse(hops.pop())
        if current is None:
            return None
    return current


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def address_allowed(address: Address | None, allowed: Sequence[Network]) -> bool:
    """An empty allowlist admits anyone; otherwise the address must be known and listed."""
    if not allowed:
        return True
    return address is not None and any(address in network for network in allowed)
