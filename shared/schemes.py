"""Inbound verification schemes: Standard Webhooks, Stripe, GitHub and a shared token.

Each scheme checks exactly the raw body bytes against any of a source's secrets
(several during a rotation) in constant time. ``begin`` checks the headers before any
of the body is read and returns a ``BodyCheck`` fed the body as it streams in;
``verify`` is the same with the whole body at hand. Failures raise a ``shared.signing``
``VerificationError`` subclass whose ``code`` is stable for responses and metrics:
``missing_header`` / ``malformed_header`` (400), ``bad_signature`` (401),
``timestamp_too_old`` / ``timestamp_too_new`` (400). Standard Webhooks is
``shared.signing``'s headers and signed prefix: the code the dispatcher signs with.

Headers must be a case-insensitive mapping (aiohttp's ``request.headers``); ``verify``
wraps anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
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


def _hex(mac: hmac.HMAC) -> bytes:
    return mac.hexdigest().encode()


def _base64(mac: hmac.HMAC) -> bytes:
    return base64.b64encode(mac.digest())


class BodyCheck:
    """A signature check fed the body piece by piece as it arrives.

    Made once the headers have passed every check that doesn't need the body (present,
    well formed, timestamp within tolerance); ``update`` runs the MACs, one per secret,
    over each piece; ``finish`` compares them with what was offered. Nothing of the body
    is kept here."""

    __slots__ = ("_encode", "_failure", "_macs", "_offered", "_verified")

    def __init__(
        self,
        verified: Verified,
        macs: Sequence[hmac.HMAC] = (),
        offered: Sequence[bytes] = (),
        encode: Callable[[hmac.HMAC], bytes] = _hex,
        failure: str = "",
    ) -> None:
        self._verified, self._macs, self._offered = verified, tuple(macs), tuple(offered)
        self._encode, self._failure = encode, failure

    def update(self, piece: bytes) -> None:
        for mac in self._macs:
            mac.update(piece)

    def finish(self) -> Verified:
        if self._macs and not _matches([self._encode(mac) for mac in self._macs], self._offered):
            raise BadSignature(self._failure)
        return self._verified


def _macs(keys: Sequence[bytes], prefix: bytes) -> list[hmac.HMAC]:
    return [hmac.new(key, prefix, hashlib.sha256) for key in keys]


class WholeBodyCheck(BodyCheck):
    """For a source holding a ``whpk_`` public key: Ed25519 signs the whole message and
    cannot be fed in pieces, so the body (already capped by the source) is kept and checked
    at ``finish``, against the ``whsec_`` secrets too."""

    __slots__ = ("_keys", "_pieces", "_signed")

    def __init__(
        self, verified: Verified, keys: Sequence[bytes | Ed25519PublicKey], signed: signing.SignatureHeaders
    ) -> None:
        super().__init__(verified, failure="no signature matches any of the secrets")
        self._keys, self._signed, self._pieces = keys, signed, []

    def update(self, piece: bytes) -> None:
        self._pieces.append(piece)

    def finish(self) -> Verified:
        if not signing.signature_matches(self._keys, self._signed, b"".join(self._pieces)):
            raise BadSignature(self._failure)
        return self._verified


def begin_standard(
    secrets: Sequence[str], headers: Mapping[str, str], *, tolerance: float, now: float | None = None
) -> BodyCheck:
    """Standard Webhooks (and Svix's ``svix-*`` header names); secrets are ``whsec_...``
    (``v1``, MACs run as the body arrives) or ``whpk_...`` public keys (``v1a``)."""
    keys = [signing.verifying_key(s) for s in secrets]
    signed = signing.read_headers(headers, tolerance=tolerance, now=now)
    verified = Verified(message_id=signed.msg_id, timestamp=signed.timestamp)
    if not all(isinstance(key, bytes) for key in keys):
        return WholeBodyCheck(verified, keys, signed)
    keys = [key for key in keys if isinstance(key, bytes)]
    return BodyCheck(
        verified,
        _macs(keys, signing.signed_prefix(signed.msg_id, signed.timestamp)),
        [value.encode() for value in signed.offered],
        _base64,
        "no signature matches any of the secrets",
    )


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


def begin_stripe(
    secrets: Sequence[str], headers: Mapping[str, str], *, tolerance: float, now: float | None = None
) -> BodyCheck:
    raw_timestamp, offered = _parse_stripe(_required(headers, STRIPE_HEADER))
    timestamp = signing.check_timestamp(raw_timestamp, tolerance, now)
    # Stripe's event id is in the JSON body, not a header: the caller reads it there.
    return BodyCheck(
        Verified(message_id=None, timestamp=timestamp),
        _macs([s.encode() for s in secrets], b"%d." % timestamp),
        offered,
        _hex,
        f"no {STRIPE_HEADER} v1 signature matches any of the secrets",
    )


def github_signature_header(secret: str, body: bytes) -> str:
    return "sha256=" + _hex_hmac(secret, body).decode()


def begin_github(secrets: Sequence[str], headers: Mapping[str, str]) -> BodyCheck:
    """``X-Hub-Signature-256: sha256=<hex>``; the SHA-1 ``X-Hub-Signature`` is refused."""
    algorithm, sep, digest = _required(headers, GITHUB_HEADER).partition("=")
    if not sep or algorithm != "sha256" or not digest:
        raise MalformedHeader(f"{GITHUB_HEADER} must look like sha256=<hex>")
    return BodyCheck(
        Verified(),
        _macs([s.encode() for s in secrets], b""),
        [digest.strip().lower().encode()],
        _hex,
        f"{GITHUB_HEADER} matches none of the secrets",
    )


def verify_token(secrets: Sequence[str], headers: Mapping[str, str], header_name: str) -> Verified:
    """A shared secret sent as is in a header the source names (GitLab: ``X-Gitlab-Token``).
    It authenticates the sender, not the body: use it only over TLS."""
    offered = _required(headers, header_name).encode()
    if not _matches([s.encode() for s in secrets], [offered]):
        raise BadSignature(f"{header_name} matches none of the secrets")
    return Verified()


def begin(
    scheme: Scheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    *,
    tolerance: float = signing.DEFAULT_TOLERANCE_SECONDS,
    header_name: str | None = None,
    now: float | None = None,
) -> BodyCheck:
    """Check what ``scheme`` puts in the headers, before any of the body is read; raises
    ``signing.VerificationError``. The token scheme is decided here (it signs no body)."""
    if not isinstance(headers, CIMultiDict | CIMultiDictProxy):
        headers = CIMultiDict(headers)
    now = time.time() if now is None else now
    match scheme:
        case Scheme.STANDARD_WEBHOOKS:
            return begin_standard(secrets, headers, tolerance=tolerance, now=now)
        case Scheme.STRIPE:
            return begin_stripe(secrets, headers, tolerance=tolerance, now=now)
        case Scheme.GITHUB:
            return begin_github(secrets, headers)
        case Scheme.TOKEN:
            if not header_name:
                raise ValueError("the token scheme needs the name of its header")
            return BodyCheck(verify_token(secrets, headers, header_name))
    raise ValueError(f"unknown scheme {scheme!r}")


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
    """Verify one request under ``scheme`` with the whole body at hand; raises
    ``signing.VerificationError``."""
    check = begin(scheme, secrets, headers, tolerance=tolerance, header_name=header_name, now=now)
    check.update(body)
    return check.finish()


def check_secret(scheme: Scheme, secret: str) -> None:
    """Refuse a secret the scheme can't use (raises ``ValueError`` with the reason)."""
    if not secret:
        raise ValueError("a secret must not be empty")
    if scheme is Scheme.STANDARD_WEBHOOKS:
        if signing.is_private_key(secret):
            raise ValueError("a whsk_ private key signs; give the verifier its whpk_ public key")
        signing.verifying_key(secret)  # InvalidSecret is a ValueError
