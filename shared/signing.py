"""Standard Webhooks v1 signatures: the one implementation Hookline signs and verifies with.

``webhook-signature`` is a space-separated list of ``v1,<base64 HMAC-SHA256>`` over
``"{id}.{timestamp}.{body}"``; secrets are ``whsec_`` plus base64 bytes. Unlike the
reference library, every malformed input raises a ``VerificationError`` subclass that
names the problem, never a bare ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class VerificationError(Exception):
    """A webhook failed verification; ``code`` is a stable reason for logs and metrics."""

    code = "verification_failed"


class MissingHeader(VerificationError):
    code = "missing_header"


class MalformedHeader(VerificationError):
    code = "malformed_header"


class BadSignature(VerificationError):
    code = "bad_signature"


class TimestampTooOld(VerificationError):
    code = "timestamp_too_old"


class TimestampTooNew(VerificationError):
    code = "timestamp_too_new"


class InvalidSecret(ValueError):
    """A configured secret is not ``whsec_`` + base64."""


def new_secret(size: int = 24) -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(size)).decode()


def decode_secret(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret("secret is not base64 after the whsec_ prefix") from exc
    if not key:
        raise InvalidSecret("secret is empty")
    return key


def signed_prefix(msg_id: str, timestamp: int) -> bytes:
    """What the MAC covers before the body: ``"{id}.{timestamp}."``."""
    return b"%s.%d." % (msg_id.encode(), timestamp)


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` under ``key`` (decoded secret bytes)."""
    mac = hmac.new(key, signed_prefix(msg_id, timestamp) + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_header(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per valid key, space-separated."""
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def delivery_headers(
    keys: Iterable[bytes], msg_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.title())
    if value is None:
        # Some senders (Svix itself) also use the svix-* names.
        value = headers.get(name.replace("webhook-", "svix-"))
    if not value:
        raise MissingHeader(f"missing {name} header")
    return value


def check_timestamp(raw: str, tolerance: float, now: float | None = None) -> int:
    try:
        timestamp = int(raw)
    except ValueError as exc:
        raise MalformedHeader("webhook-timestamp is not an integer number of seconds") from exc
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise TimestampTooOld("webhook-timestamp is older than the tolerance")
    if timestamp > current + tolerance:
        raise TimestampTooNew("webhook-timestamp is in the future beyond the tolerance")
    return timestamp


@dataclass(frozen=True, slots=True)
class SignatureHeaders:
    """The three headers of a request, checked: what the MAC must be computed over and
    the signatures it must match."""

    msg_id: str
    timestamp: int
    offered: tuple[str, ...]  # the base64 values of the v1 entries


def read_headers(
    headers: Mapping[str, str], *, tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> SignatureHeaders:
    """Everything that can be checked before the body is read: presence, form, timestamp.

    ``headers`` must be case-insensitive or lower-cased (aiohttp's ``request.headers`` is).
    """
    msg_id = _header(headers, "webhook-id")
    timestamp = check_timestamp(_header(headers, "webhook-timestamp"), tolerance, now)
    offered = []
    for part in _header(headers, "webhook-signature").split(" "):
        version, sep, value = part.partition(",")
        if not sep or not value:
            raise MalformedHeader("webhook-signature entries must look like v1,<base64>")
        if version == "v1":
            offered.append(value)
    if not offered:
        raise MalformedHeader("webhook-signature has no v1 signature")
    return SignatureHeaders(msg_id, timestamp, tuple(offered))


def verify(
    keys: Iterable[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Verify a Standard Webhooks request against any of ``keys``; returns the message id.

    ``headers`` must be case-insensitive or lower-cased (aiohttp's ``request.headers`` is).
    """
    signed = read_headers(headers, tolerance=tolerance, now=now)
    for key in keys:
        expected = sign(key, signed.msg_id, signed.timestamp, body)[3:].encode()
        if any(hmac.compare_digest(expected, candidate.encode()) for candidate in signed.offered):
            return signed.msg_id
    raise BadSignature("no signature matches any of the secrets")
