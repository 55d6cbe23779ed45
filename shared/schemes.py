"""Inbound verification schemes: Standard Webhooks, Stripe, GitHub and a shared token.

Each ``verify_*`` checks exactly the raw body bytes against any of a source's secrets
(several during a rotation) in constant time, and raises a ``shared.signing``
``VerificationError`` subclass whose ``code`` is stable for responses and metrics:
``missing_header`` / ``malformed_header`` (400), ``bad_signature`` (401),
``timestamp_too_old`` / ``timestamp_too_new`` (400). Standard Webhooks is
``shared.signing`` itself: the code the dispatcher signs with.

Headers must be a case-insensitive mapping (aiohttp's ``request.headers``); ``verify``
wraps anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from multidict import CIMultiDict, CIMultiDictProxy

from shared import signing
from shared.signing import BadSignature, MalformedHeader, MissingHeader


class Scheme(StrEnum):
    STANDARD_WEBHOOKS = "standard-webhooks"
    STRIPE = "stripe"
    GITHUB = "github"
    TOKEN = "token"


STRIPE_HEADER = "Stripe-Signature"
GITHUB_HEADER = "X-Hub-Signature-256"


@dataclass(frozen=True, slots=True)
class Verified:
    """What a valid signature vouches for beyond the body: the sender's message id and
    the timestamp, when the scheme signs them (Standard Webhooks both, Stripe the
    timestamp). A header the signature doesn't cover (``X-GitHub-Delivery``) is not here:
    whoever captured a request could change it."""

    message_id: str | None = None
    timestamp: int | None = None


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise MissingHeader(f"missing {name} header")
    return value


def _matches(expected: Sequence[bytes], offered: Sequence[bytes]) -> bool:
    # No early exit on the first hit among candidates of one key: every comparison is
    # constant-time, and the number of them depends only on the header and key counts.
    found = False
    for want in expected:
        for candidate in offered:
            found |= hmac.compare_digest(want, candidate)
    return found


def _hex_hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()


def verify_standard(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float,
    now: float | None = None,
) -> Verified:
    """Standard Webhooks (and Svix's ``svix-*`` header names); secrets are ``whsec_...``."""
    keys = [signing.decode_secret(s) for s in secrets]
    msg_id = signing.verify(keys, headers, body, tolerance=tolerance, now=now)
    timestamp = headers.get("webhook-timestamp") or headers.get("svix-timestamp")
    return Verified(message_id=msg_id, timestamp=int(timestamp or 0))


def stripe_signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``; Stripe uses the whole ``whsec_...``
    string as the key, unlike Standard Webhooks which base64-decodes it."""
    return f"t={timestamp},v1={_hex_hmac(secret, b'%d.%s' % (timestamp, body)).decode()}"


def _parse_stripe(header: str) -> tuple[str, list[bytes]]:
    timestamp, offered = None, []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise MalformedHeader(f"{STRIPE_HEADER} items must look like key=value")
        if key == "t":
            timestamp = value
        elif key == "v1":
            offered.append(value.strip().lower().encode())
    if timestamp is None:
        raise MalformedHeader(f"{STRIPE_HEADER} has no t= timestamp")
    if not offered:
        raise MalformedHeader(f"{STRIPE_HEADER} has no v1= signature")
    return timestamp, offered


def verify_stripe(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float,
    now: float | None = None,
) -> Verified:
    raw_timestamp, offered = _parse_stripe(_required(headers, STRIPE_HEADER))
    timestamp = signing.check_timestamp(raw_timestamp, tolerance, now)
    signed = b"%d.%s" % (timestamp, body)
    if not _matches([_hex_hmac(s, signed) for s in secrets], offered):
        raise BadSignature(f"no {STRIPE_HEADER} v1 signature matches any of the secrets")
    # Stripe's event id is in the JSON body, not a header: the caller reads it there.
    return Verified(message_id=None, timestamp=timestamp)


def github_signature_header(secret: str, body: bytes) -> str:
    return "sha256=" + _hex_hmac(secret, body).decode()


def verify_github(secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> Verified:
    """``X-Hub-Signature-256: sha256=<hex>``; the SHA-1 ``X-Hub-Signature`` is refused."""
    algorithm, sep, digest = _required(headers, GITHUB_HEADER).partition("=")
    if not sep or algorithm != "sha256" or not digest:
        raise MalformedHeader(f"{GITHUB_HEADER} must look like sha256=<hex>")
    if not _matches([_hex_hmac(s, body) for s in secrets], [digest.strip().lower().encode()]):
        raise BadSignature(f"{GITHUB_HEADER} matches none of the secrets")
    return Verified()


def verify_token(secrets: Sequence[str], headers: Mapping[str, str], header_name: str) -> Verified:
    """A shared secret sent as is in a header the source names (GitLab: ``X-Gitlab-Token``).
    It authenticates the sender, not the body: use it only over TLS."""
    offered = _required(headers, header_name).encode()
    if not _matches([s.encode() for s in secrets], [offered]):
        raise BadSignature(f"{header_name} matches none of the secrets")
    return Verified()


def verify(
    scheme: Scheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = signing.DEFAULT_TOLERANCE_SECONDS,
    header_name: str | None = None,
    now: float | None = None,
) -> Verified:
    """Verify one request under ``scheme``; raises ``signing.VerificationError``."""
    if not isinstance(headers, CIMultiDict | CIMultiDictProxy):
        headers = CIMultiDict(headers)
    now = time.time() if now is None else now
    match scheme:
        case Scheme.STANDARD_WEBHOOKS:
            return verify_standard(secrets, headers, body, tolerance=tolerance, now=now)
        case Scheme.STRIPE:
            return verify_stripe(secrets, headers, body, tolerance=tolerance, now=now)
        case Scheme.GITHUB:
            return verify_github(secrets, headers, body)
        case Scheme.TOKEN:
            if not header_name:
                raise ValueError("the token scheme needs the name of its header")
            return verify_token(secrets, headers, header_name)
    raise ValueError(f"unknown scheme {scheme!r}")


def check_secret(scheme: Scheme, secret: str) -> None:
    """Refuse a secret the scheme can't use (raises ``ValueError`` with the reason)."""
    if not secret:
        raise ValueError("a secret must not be empty")
    if scheme is Scheme.STANDARD_WEBHOOKS:
        signing.decode_secret(secret)  # InvalidSecret is a ValueError
