"""Svix-style ids: a prefix plus a 27-character base62 KSUID, sortable by time.

Like the millisecond KSUIDs Svix uses: 4 bytes of seconds since the KSUID epoch,
1 byte of sub-second fraction, 15 random bytes. Lexicographic order of two ids is
their creation order to about 4 ms, which is what iterator pagination relies on.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000
_LENGTH = 27

PREFIXES = ("app", "ep", "msg", "atmpt", "qtask", "src")


def _base62(number: int) -> str:
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars)).rjust(_LENGTH, "0")


def ksuid(at: float | None = None) -> str:
    now = time.time() if at is None else at
    seconds = int(now) - _KSUID_EPOCH
    fraction = int((now % 1) * 256)
    raw = seconds.to_bytes(4, "big") + bytes([fraction]) + os.urandom(15)
    return _base62(int.from_bytes(raw, "big"))


def new_id(prefix: str, at: float | None = None) -> str:
    return f"{prefix}_{ksuid(at)}"


def boundary_id(prefix: str, at: float) -> str:
    """The smallest id of ``prefix`` created at ``at``: for ``before``/``after`` filters."""
    # Times outside what a KSUID can hold (1400000000 to +2^32 s) clamp to its ends.
    seconds = min(max(int(at) - _KSUID_EPOCH, 0), 2**32 - 1)
    fraction = int((at % 1) * 256) if 0 < int(at) - _KSUID_EPOCH < 2**32 - 1 else 0
    raw = seconds.to_bytes(4, "big") + bytes([fraction]) + bytes(15)
    return f"{prefix}_{_base62(int.from_bytes(raw, 'big'))}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 1 + _LENGTH
