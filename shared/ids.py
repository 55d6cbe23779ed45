"""Svix-style ids: a prefix plus a 27-character base62 KSUID, sortable by time.

Like the millisecond KSUIDs Svix uses: 4 bytes of seconds since the KSUID epoch,
1 byte of sub-second fraction, 15 random bytes. Lexicographic order of two ids is
their creation order to about 4 ms, which is what iterator pagination relies on; ids
one process makes within the same 4 ms are kept in order too (the random part of a
later one is made larger when it is not already), so a list never shows two messages
of one burst the wrong way round.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000
_LENGTH = 27

PREFIXES = ("app", "ep", "msg", "atmpt", "qtask", "src")


_RANDOM_BITS = 120
# Two base62 digits per division: half the big-integer divisions of one digit at a time.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_last_stamp, _last_random = -1, 0


def _base62(number: int) -> str:
    pairs = []
    while number:
        number, rem = divmod(number, 3844)
        pairs.append(_PAIRS[rem])
    return "".join(reversed(pairs)).rjust(_LENGTH + 1, "0")[-_LENGTH:]


def ksuid(at: float | None = None) -> str:
    global _last_stamp, _last_random
    now = time.time() if at is None else at
    stamp = ((int(now) - _KSUID_EPOCH) << 8) | int((now % 1) * 256)  # 4 bytes seconds, 1 byte fraction
    random = int.from_bytes(os.urandom(15), "big")
    if stamp == _last_stamp and random <= _last_random:
        # Later within the same 4 ms: still random, but after the previous id.
        random = _last_random + 1 + (random & 0xFFFFFFFF)
        if random >> _RANDOM_BITS:  # the random part ran out (2^-88): order is not kept
            random &= (1 << _RANDOM_BITS) - 1
    _last_stamp, _last_random = stamp, random
    return _base62((stamp << _RANDOM_BITS) | random)


def new_id(prefix: str, at: float | None = None) -> str:
    return f"{prefix}_{ksuid(at)}"


def boundary_id(prefix: str, at: float) -> str:
    """The smallest id of ``prefix`` created at ``at``: for ``before``/``after`` filters."""
    # Times outside what a KSUID can hold (1400000000 to +2^32 s) clamp to its ends.
    seconds = min(max(int(at) - _KSUID_EPOCH, 0), 2**32 - 1)
    fraction = int((at % 1) * 256) if 0 < int(at) - _KSUID_EPOCH < 2**32 - 1 else 0
    raw = seconds.to_bytes(4, "big") + bytes([fraction]) + bytes(15)
    return f"{prefix}_{_base62(int.from_bytes(raw, 'big'))}"


_DIGITS = {c: n for n, c in enumerate(_ALPHABET)}


def created_at(value: str, prefix: str) -> float | None:
    """When the id of ``prefix`` was made (unix seconds, to 1/256 s), or None for a value
    that is not such an id: the time its KSUID holds, read back."""
    if not has_prefix(value, prefix):
        return None
    number = 0
    for char in value[len(prefix) + 1 :]:
        if (digit := _DIGITS.get(char)) is None:
            return None
        number = number * 62 + digit
    if number >> (_RANDOM_BITS + 40):  # more than the 20 bytes a KSUID holds
        return None
    stamp = number >> _RANDOM_BITS
    return (stamp >> 8) + _KSUID_EPOCH + (stamp & 0xFF) / 256


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 1 + _LENGTH
