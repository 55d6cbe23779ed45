"""Which addresses Hookline may send webhooks to (SSRF protection).

Pure decisions here; the dispatcher applies them to the addresses DNS returned and
connects to the address it checked, so a rebinding DNS answer cannot slip past.
Private, loopback, link-local (cloud metadata included), multicast, reserved and
unspecified addresses are refused unless ``HOOKLINE_ALLOWED_TARGET_CIDRS`` covers them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints outside the link-local range (AWS IPv6, Alibaba).
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


class TargetRefused(ValueError):
    """The URL may not be used as a webhook target; the message says why."""


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def refusal_reason(address: IPAddress, allowed: Sequence[Network] = ()) -> str | None:
    """Why ``address`` may not be a target, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in net for net in allowed):
        return None
    if any(address in net for net in _METADATA):
        return "a cloud metadata address"
    for label, flag in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("an unspecified address", address.is_unspecified),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("a non-global address", not address.is_global),
    ):
        if flag:
            return label
    return None


def check_url_syntax(url: str) -> tuple[str, int]:
    """Refuse anything but an absolute http(s) URL with a host; return (host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_target(
    url: str, allowed: Sequence[Network], *, unresolvable_ok: bool = False
) -> list[IPAddress]:
    """Resolve the URL's host and refuse it if any address is not allowed.

    Returns the checked addresses. A host that does not resolve is refused, unless
    ``unresolvable_ok`` (configuration time: the name may exist only later).
    """
    host, port = check_url_syntax(url)
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        if unresolvable_ok:
            return []
        raise TargetRefused(f"the host {host!r} does not resolve") from exc
    for address in addresses:
        reason = refusal_reason(address, allowed)
        if reason:
            raise TargetRefused(f"{host} resolves to {address}, {reason}, which is not allowed")
    return addresses
