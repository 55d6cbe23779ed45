"""What the client writes: targets parsed from URLs, header lines checked for framing,
the request head (origin-form, or absolute-form to an http egress proxy) and CONNECT."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit


class InvalidHeader(ValueError):
    """A header name or value that would break the request's framing."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL means to the client, parsed once per URL."""

    tls: bool
    host: str  # as resolved and checked; the TLS server name
    port: int
    path: str  # origin-form request target
    authority: str  # the Host header
    absolute: str  # absolute-form request target, for a proxy (no fragment, no user info)


@lru_cache(maxsize=16384)
def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The Host header carries the name as written (IPv6 in brackets), the port when not the default.
    authority = parts.netloc.rpartition("@")[2]
    if parts.port == (443 if tls else 80):
        authority = authority.rpartition(":")[0]
    host = parts.hostname
    if not authority.isascii():  # an internationalised name goes on the wire as IDNA (RFC 9110 §4.2.3)
        host = host.encode("idna").decode("ascii")
        authority = host if parts.port in (None, 443 if tls else 80) else f"{host}:{parts.port}"
    return Target(tls, host, port, path, authority, f"{parts.scheme}://{authority}{path}")


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BREAKS_FRAMING = re.compile(r"[\r\n\0]")


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Header lines ready to send; a name that is not a token or a value with CR, LF or
    NUL (which would let a header smuggle in more) raises ``InvalidHeader``."""
    lines = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _BREAKS_FRAMING.search(value):
            raise InvalidHeader(f"header {name!r} cannot be sent")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode()


def post_request(
    target: Target, headers: Mapping[str, str] | bytes, body: bytes, proxy: bytes | None = None
) -> list[bytes]:
    """The POST's bytes. ``proxy`` (the proxy's credential line, or ``b""``) is given only
    for an http target through the egress proxy: the request goes to the proxy in
    absolute form. An https target through a proxy is written inside the CONNECT
    tunnel's TLS, in origin form, and the proxy's credentials never go in there."""
    path = target.path if proxy is None else target.absolute
    head = f"POST {path} HTTP/1.1\r\nhost: {target.authority}\r\ncontent-length: {len(body)}\r\n"
    lines = headers if isinstance(headers, bytes) else encode_headers(headers)
    return [head.encode(), proxy or b"", lines, b"\r\n", body]


def connect_request(target: Target, proxy_auth: bytes | None) -> list[bytes]:
    """``CONNECT`` for a tunnel to ``target`` through the egress proxy."""
    authority = f"{target.host}:{target.port}" if ":" not in target.host else f"[{target.host}]:{target.port}"
    return [f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n".encode(), proxy_auth or b"", b"\r\n"]


def proxy_authorization(proxy: str) -> bytes | None:
    """The proxy's ``Proxy-Authorization`` line from the user info of its URL, if any."""
    parts = urlsplit(proxy)
    if parts.username is None:
        return None
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return b"proxy-authorization: Basic " + base64.b64encode(credentials) + b"\r\n"
