"""Which hosts Hookline may send webhooks to (SSRF protection): one canonical check.

A URL's host is first normalised to what the OS resolver would make of it: every
spelling ``inet_aton`` accepts (``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
``0``), IPv4-mapped and IPv4-compatible IPv6, full-width digits and ideographic dots
(IDNA maps them), trailing dots and mixed case all become the address or the ASCII
name they stand for; a host that ends in a number but is no valid IPv4 address, an
empty label, an IDNA error or a character no host name has is refused with a reason.
Then the address, or each address DNS returned for a name, is decided on:

1. cloud-metadata addresses are refused unless the allow-list names exactly that
   address (a /32 or /128): ``169.254.0.0/16`` for a link-local receiver does not open
   the instance's credentials;
2. an address ``HOOKLINE_ALLOWED_TARGET_CIDRS`` covers is allowed;
3. IPv6 that carries an IPv4 address (NAT64, 6to4) is decided as that address;
4. private, loopback, link-local, multicast, reserved, unspecified and other
   non-global addresses are refused.

Everything above is pure. ``check_target`` at the bottom is the configuration-time
adapter (ingest, the dashboard): it resolves a name through an injected function.
The dispatcher resolves with ``services.dispatcher.egress.GuardedResolver`` and
connects only to the addresses it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]

# Instance metadata and credential services: AWS (IMDS v4/v6, ECS task, EKS pod
# identity), GCP, Azure, OCI, DigitalOcean, OpenStack (169.254.169.254), Alibaba,
# Tencent, Oracle's legacy address, Scaleway.
CLOUD_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "169.254.0.23",
        "192.0.0.192",
        "169.254.42.42",
        "fd00:42::42",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"[a-z0-9_-]+")
_HEX = re.compile(r"0x[0-9a-f]*")
_DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the label separators IDNA (RFC 3490) reads
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdef"}


class TargetRefused(ValueError):
    """The URL may not be used as a webhook target; the message says why."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL's target as the resolver and the policy see it."""

    scheme: str
    host: str  # the address's text, or the ASCII lower-case name without a trailing dot
    port: int
    address: IPAddress | None  # the host as an address, whatever its spelling; None for a name


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


# --- normalisation -----------------------------------------------------------------


def _inet_aton_part(text: str) -> int | None:
    """One dot-separated part as inet_aton reads it: 0x hex (digits optional), 0 octal, decimal."""
    if _HEX.fullmatch(text):
        return int(text[2:] or "0", 16)
    base = 8 if len(text) > 1 and text.startswith("0") else 10
    if not text or any(ch not in _DIGITS[base] for ch in text):
        return None
    return int(text, base)


def _ends_in_a_number(labels: list[str]) -> bool:
    """WHATWG URL's test: such a host is an IPv4 address or invalid, never a DNS name."""
    last = labels[-1]
    return last.isascii() and (last.isdigit() or _HEX.fullmatch(last) is not None)


def _ipv4(labels: list[str], host: str) -> ipaddress.IPv4Address:
    values = [_inet_aton_part(label) for label in labels]
    if len(values) > 4 or any(v is None for v in values):
        raise TargetRefused(f"the host {host!r} is not a valid IPv4 address")
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):  # type: ignore[operator]
        raise TargetRefused(f"the host {host!r} is not a valid IPv4 address (a part is out of range)")
    number = last
    for position, value in enumerate(head):
        number += value << (24 - 8 * position)  # type: ignore[operator]
    return ipaddress.IPv4Address(number)


def canonical_address(address: IPAddress) -> IPAddress:
    """IPv4-mapped (``::ffff:a.b.c.d``) and IPv4-compatible (``::a.b.c.d``) IPv6 as IPv4:
    the kernel sends the first to the IPv4 address, and the second is that address in
    any policy worth having."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if int(address) >> 32 == 0 and int(address) > 1:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@lru_cache(maxsize=16384)  # asked at every new connection; pure
def normalise_host(host: str) -> tuple[str, IPAddress | None]:
    """``(normalised host, its address or None)``; ``TargetRefused`` says why not a host."""
    raw = host.strip("[]").lower()
    if ":" in raw:
        try:
            address = ipaddress.IPv6Address(raw)
        except ValueError:
            raise TargetRefused(f"the host {host!r} is not a valid IPv6 address") from None
        if address.scope_id is not None:
            raise TargetRefused(f"the host {host!r} carries an IPv6 zone, which is not allowed")
        normal = canonical_address(address)
        return str(normal), normal
    written = _DOTS.split(raw)
    if written[-1] == "" and len(written) > 1:
        written.pop()  # one trailing dot: the fully qualified spelling of the same name
    if "" in written:
        raise TargetRefused(f"the host {host!r} has an empty label")
    try:
        name = ".".join(written).encode("idna").decode("ascii")
    except UnicodeError as exc:  # the codec wraps the reason: "label empty or too long", ...
        reason = exc.__cause__ or exc
        raise TargetRefused(f"the host {host!r} is not a valid host name ({reason})") from None
    labels = name.split(".")
    if "" in labels:  # a label IDNA maps to nothing (a zero-width space, a soft hyphen)
        raise TargetRefused(f"the host {host!r} has an empty label")
    if _ends_in_a_number(labels):
        address4 = _ipv4(labels, host)
        return str(address4), address4
    if len(name) > 253 or any(len(label) > 63 for label in labels):
        raise TargetRefused(f"the host {host!r} is too long for DNS")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise TargetRefused(f"the host {host!r} has a character no host name may have")
    return name, None


def destination(url: str) -> Destination:
    """The URL's target, normalised; anything but an absolute http(s) URL with a host,
    no credentials and a port in 1-65535 is refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry credentials")
    if port == 0:
        raise TargetRefused("the URL's port must be between 1 and 65535")
    host, address = normalise_host(parts.hostname)
    return Destination(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), address)


def check_url_syntax(url: str) -> tuple[str, int]:
    """Refuse what is not a valid http(s) target URL; return (normalised host, port)."""
    target = destination(url)
    return target.host, target.port


# --- the decision ------------------------------------------------------------------


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        return address.sixtofour
    return None


def refusal_reason(address: IPAddress, allowed: Sequence[Network] = ()) -> str | None:
    """Why ``address`` may not be a target, or None when it may."""
    address = canonical_address(address)
    if address in CLOUD_METADATA:
        exact = any(net.num_addresses == 1 and net.network_address == address for net in allowed)
        return None if exact else "a cloud metadata address"
    if any(address in net for net in allowed):
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:  # where it ends up: DNS64 hands IPv4-only receivers NAT64 addresses
        reason = refusal_reason(embedded, allowed)
        return f"an IPv6 address carrying {embedded}, {reason}" if reason else None
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


def address_refusal(host: str, address: IPAddress, allowed: Sequence[Network]) -> str | None:
    """The refusal, worded for the host as written, or None when ``address`` is allowed."""
    reason = refusal_reason(address, allowed)
    if reason is None:
        return None
    shown = canonical_address(address)
    written = host.strip("[]").lower()
    if written == str(shown):
        return f"{shown} is {reason}, which is not allowed"
    return f"the host {host} is the address {shown}, {reason}, which is not allowed"


def literal_refusal(url: str, allowed: Sequence[Network]) -> str | None:
    """Why the URL is refused before any DNS (its spelling, or its IP literal), or None."""
    try:
        target = destination(url)
    except TargetRefused as exc:
        return str(exc)
    if target.address is None:
        return None
    return address_refusal(urlsplit(url).hostname or target.host, target.address, allowed)


# --- configuration time (I/O through an injected resolver) ------------------------------


async def getaddrinfo_resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_target(
    url: str,
    allowed: Sequence[Network],
    *,
    unresolvable_ok: bool = False,
    resolve: Resolve = getaddrinfo_resolve,
) -> list[IPAddress]:
    """Normalise the URL's host and refuse it if it, or any address its name resolves
    to, is not allowed. Returns the checked addresses. A name that does not resolve is
    refused, unless ``unresolvable_ok`` (configuration time: it may exist only later)."""
    target = destination(url)
    if target.address is not None:
        reason = address_refusal(urlsplit(url).hostname or target.host, target.address, allowed)
        if reason:
            raise TargetRefused(reason)
        return [target.address]
    try:
        addresses = await resolve(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        if unresolvable_ok:
            return []
        raise TargetRefused(f"the host {target.host!r} does not resolve") from exc
    for address in addresses:
        reason = refusal_reason(address, allowed)
        if reason:
            raise TargetRefused(
                f"{target.host} resolves to {canonical_address(address)}, {reason}, which is not allowed"
            )
    return addresses
