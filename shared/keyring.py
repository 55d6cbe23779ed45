"""The key ring that encrypts secrets at rest: pure, no I/O.

``HOOKLINE_ENCRYPTION_KEYS`` lists keys newest first, ``id:base64`` of 32 random bytes
each, comma separated (``k2:...,k1:...``). The first key encrypts; every key decrypts.
A sealed value is text, so it fits the columns that held the plaintext
(``text``, ``text[]``, values inside ``jsonb``):

    hl1:<key id>:<urlsafe base64 of nonce(12) || AES-256-GCM ciphertext and tag>

The key id in each value tells which key opens it, so a ring may hold old keys while
``python -m shared.rekey`` moves rows to the newest one. The purpose (``endpoint.secret``,
``endpoint.header`` ...) is the GCM associated data: a value copied into another column
does not open there. Text without the ``hl1:`` prefix is a plaintext left from before
encryption; :meth:`KeyRing.open` passes it through so the services keep working until
the rekey run has sealed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "hl1:"
KEY_BYTES = 32
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
DEV_KEY_ID = "dev"
# The dev key is derived from this label, so every process of a dev installation (and
# every test) finds the same key without storing it anywhere. It protects nothing: prod
# refuses to start without HOOKLINE_ENCRYPTION_KEYS.
_DEV_LABEL = b"hookline development key - not a secret, never used with HOOKLINE_ENV=prod"


class KeyRingError(ValueError):
    """A malformed key ring, or a sealed value this ring cannot open."""


@dataclass(frozen=True, slots=True)
class _Key:
    id: str
    aead: AESGCM


def new_key() -> str:
    """A fresh key in the ring's format, without its id: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _decode_key(key_id: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyRingError(f"key {key_id!r} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


class KeyRing:
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError("a key ring needs at least one key")
        ids = [key_id for key_id, _ in keys]
        if len(set(ids)) != len(ids):
            raise KeyRingError("key ids must be unique")
        for key_id, raw in keys:
            if not _KEY_ID.match(key_id):
                raise KeyRingError(f"key id {key_id!r} must be 1-32 of A-Z a-z 0-9 _ -")
            if len(raw) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes")
        self._keys = {key_id: _Key(key_id, AESGCM(raw)) for key_id, raw in keys}
        self.primary_id = ids[0]
        self.key_ids = tuple(ids)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """``k2:<base64>,k1:<base64>``: newest first. Errors never echo a key."""
        keys = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise KeyRingError("each key must read id:base64 (e.g. k1:<44 base64 characters>)")
            keys.append((key_id.strip(), _decode_key(key_id.strip(), encoded)))
        return cls(keys)

    @classmethod
    def dev(cls) -> KeyRing:
        return cls([(DEV_KEY_ID, hashlib.sha256(_DEV_LABEL).digest())])

    @staticmethod
    def dev_entry() -> str:
        """The dev key as a ring entry, to append to a real ring when a dev database
        moves to real keys (docs/operations.md)."""
        return f"{DEV_KEY_ID}:{base64.b64encode(hashlib.sha256(_DEV_LABEL).digest()).decode()}"

    def seal(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.primary_id].aead.encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{PREFIX}{self.primary_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, value: str, purpose: str) -> str:
        """The plaintext of a sealed value; text that was never sealed comes back as is."""
        if not is_sealed(value):
            return value
        key_id, _, body = value[len(PREFIX) :].partition(":")
        key = self._keys.get(key_id)
        if key is None:
            raise KeyRingError(
                f"a value is sealed with key {key_id!r}, which HOOKLINE_ENCRYPTION_KEYS does not hold"
            )
        try:
            raw = base64.urlsafe_b64decode(body)
            return key.aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise KeyRingError(f"a value sealed with key {key_id!r} does not open as {purpose}") from exc

    def seal_bytes(self, data: bytes, purpose: str) -> bytes:
        return self.seal(base64.b64encode(data).decode(), purpose).encode()

    def open_bytes(self, data: bytes, purpose: str) -> bytes:
        """Bytes from :meth:`seal_bytes`; bytes that were never sealed come back as is."""
        if not data.startswith(PREFIX.encode()):
            return data
        return base64.b64decode(self.open(data.decode(), purpose))

    def is_current(self, value: str) -> bool:
        """Sealed with the newest key: nothing for a rekey run to do."""
        return key_id_of(value) == self.primary_id


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def key_id_of(value: str | bytes) -> str | None:
    """The id of the key that sealed ``value``; None for a plaintext."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if not is_sealed(text):
        return None
    return text[len(PREFIX) :].partition(":")[0]
