"""Standard Webhooks v1 signatures: the one implementation Hookline signs and verifies with.

``webhook-signature`` is a space-separated list of ``v1,<base64 HMAC-SHA256>`` over
``"{id}.{timestamp}.{body}"``; secrets are ``whsec_`` plus base64 bytes. An endpoint may
instead hold an Ed25519 private key, ``whsk_`` plus the base64 of its 32-byte seed (or of
the 64-byte seed-and-public-key form libsodium writes): its deliveries carry
``v1a,<base64 Ed25519 signature>`` of the same bytes, and its receiver holds only the
public key, ``whpk_`` plus the base64 of its 32 bytes (Standard Webhooks' asymmetric
signatures). Unlike the reference library, every malformed input raises a
``VerificationError`` subclass that names the problem, never a bare ``ValueError``.
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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"
PRIVATE_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
# What a delivery is signed with: HMAC key bytes (``v1``) or an Ed25519 private key (``v1a``).
SigningKey = bytes | Ed25519PrivateKey
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
    """A configured secret is not ``whsec_`` + base64, nor a well-formed ``whsk_``/``whpk_`` key."""


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


def _key_bytes(value: str, prefix: str, sizes: tuple[int, ...]) -> bytes:
    try:
        raw = base64.b64decode(value.removeprefix(prefix), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret(f"key is not base64 after the {prefix} prefix") from exc
    if len(raw) not in sizes:
        raise InvalidSecret(f"a {prefix} key is {' or '.join(map(str, sizes))} bytes, not {len(raw)}")
    return raw


def is_private_key(secret: str) -> bool:
    return secret.startswith(PRIVATE_KEY_PREFIX)


def private_key(secret: str) -> Ed25519PrivateKey:
    """A ``whsk_`` secret as a key object; the 64-byte form must end with its own public key."""
    raw = _key_bytes(secret, PRIVATE_KEY_PREFIX, (32, 64))
    key = Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and raw[32:] != key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw):
        raise InvalidSecret("the last 32 bytes of a 64-byte whsk_ key are not its public key")
    return key


def public_key(secret: str) -> str:
    """The ``whpk_`` key a receiver verifies a ``whsk_`` endpoint's deliveries with."""
    raw = private_key(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def shown_secret(secret: str) -> str:
    """What the API returns for an endpoint's secret: a private key never leaves, its
    public key does."""
    return public_key(secret) if is_private_key(secret) else secret


def signing_key(secret: str) -> SigningKey:
    """A stored secret loaded once for signing (the dispatcher's endpoint cache holds these)."""
    return private_key(secret) if is_private_key(secret) else decode_secret(secret)


def verifying_key(secret: str) -> bytes | Ed25519PublicKey:
    """What a receiver checks with: ``whsec_`` bytes (``v1``) or a ``whpk_`` public key (``v1a``)."""
    if secret.startswith(PUBLIC_KEY_PREFIX):
        return Ed25519PublicKey.from_public_bytes(_key_bytes(secret, PUBLIC_KEY_PREFIX, (32,)))
    return decode_secret(secret)


def signed_prefix(msg_id: str, timestamp: int) -> bytes:
    """What the MAC covers before the body: ``"{id}.{timestamp}."``."""
    return b"%s.%d." % (msg_id.encode(), timestamp)


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` under ``key`` (decoded secret bytes)."""
    mac = hmac.new(key, signed_prefix(msg_id, timestamp) + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def sign_ed25519(key: Ed25519PrivateKey, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1a,<base64>`` signature: Ed25519 over the same bytes ``v1`` MACs."""
    return "v1a," + base64.b64encode(key.sign(signed_prefix(msg_id, timestamp) + body)).decode()


def signature_header(keys: Iterable[SigningKey], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per valid key, space-separated."""
    return " ".join(
        sign(key, msg_id, timestamp, body)
        if type(key) is bytes
        else sign_ed25519(key, msg_id, timestamp, body)  # type: ignore[arg-type]
        for key in keys
    )


def delivery_headers(
    keys: Iterable[SigningKey], msg_id: str, body: bytes, now: float | None = None
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
    offered_v1a: tuple[str, ...] = ()  # and of the v1a (Ed25519) entries


def read_headers(
    headers: Mapping[str, str], *, tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> SignatureHeaders:
    """Everything that can be checked before the body is read: presence, form, timestamp.

    ``headers`` must be case-insensitive or lower-cased (aiohttp's ``request.headers`` is).
    """
    msg_id = _header(headers, "webhook-id")
    timestamp = check_timestamp(_header(headers, "webhook-timestamp"), tolerance, now)
    offered: dict[str, list[str]] = {"v1": [], "v1a": []}
    for part in _header(headers, "webhook-signature").split(" "):
        version, sep, value = part.partition(",")
        if not sep or not value:
            raise MalformedHeader("webhook-signature entries must look like v1,<base64>")
        if version in offered:
            offered[version].append(value)
    if not offered["v1"] and not offered["v1a"]:
        raise MalformedHeader("webhook-signature has no v1 or v1a signature")
    return SignatureHeaders(msg_id, timestamp, tuple(offered["v1"]), tuple(offered["v1a"]))


def _ed25519_matches(key: Ed25519PublicKey, signed: SignatureHeaders, body: bytes) -> bool:
    data = signed_prefix(signed.msg_id, signed.timestamp) + body
    for candidate in signed.offered_v1a:
        try:
            key.verify(base64.b64decode(candidate, validate=True), data)
            return True
        except (InvalidSignature, binascii.Error, ValueError):
            continue
    return False


def verify(
    keys: Iterable[bytes | Ed25519PublicKey],
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
    if signature_matches(keys, signed, body):
        return signed.msg_id
    raise BadSignature("no signature matches any of the secrets")


def signature_matches(
    keys: Iterable[bytes | Ed25519PublicKey], signed: SignatureHeaders, body: bytes
) -> bool:
    """True when a signature offered in ``signed`` is ``body``'s under one of ``keys``."""
    for key in keys:
        if isinstance(key, Ed25519PublicKey):
            if _ed25519_matches(key, signed, body):
                return True
            continue
        expected = sign(key, signed.msg_id, signed.timestamp, body)[3:].encode()
        if any(hmac.compare_digest(expected, candidate.encode()) for candidate in signed.offered):
            return True
    return False
