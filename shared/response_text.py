"""What a receiver answered, as text PostgreSQL stores and the API can show.

A response body is bytes chosen by a stranger, and Svix's API returns an attempt's
``response`` as a string. ``response_text`` maps the kept start of a body (at most
4 KiB) to text that every PostgreSQL ``text`` column accepts:

- UTF-8 is decoded; each undecodable byte becomes U+FFFD (the replacement character);
- NUL, which PostgreSQL refuses in text, becomes U+2400 (the symbol for NUL, ``␀``);
- a body cut at the keep limit in the middle of a character loses that partial character;
- a plainly binary body (a known binary signature such as gzip or PNG, or more than one
  character in ten, and more than two, undecodable or control characters) is not shown:
  ``[binary response: N bytes kept, not shown]``, naming the format when it is known.

``storable_text`` applies the same rules to text from elsewhere (an error message
that quotes a receiver's header, a URL) so that no column refuses it.
"""

from __future__ import annotations

import codecs
import re

KEEP_BYTES = 4096  # the HTTP client keeps this much of a body (services/dispatcher/http1.py)
NUL_SYMBOL = "\u2400"
REPLACEMENT = "\ufffd"
# Leading bytes of formats a receiver may answer with by mistake (compression it was not
# asked for, an image, an archive): named in the marker so that the cause is plain.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"%PDF-", "pdf"),
    (b"\x00asm", "wasm"),
)
# Control characters but tab, newline, carriage return and form feed, plus the
# replacement character: their share tells text from binary.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_BINARY_SHARE = 0.1
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r\x0c"  # printable ASCII: the common body


def binary_marker(size: int, kind: str | None = None) -> str:
    what = f"{size} bytes kept" + (f", {kind}" if kind else "")
    return f"[binary response: {what}, not shown]"


def response_text(body: bytes, *, keep: int = KEEP_BYTES) -> str:
    """The text stored for a response whose kept body is ``body``; never raises."""
    if not body.translate(None, _PLAIN):  # in C: no scan of the text below
        return body.decode("ascii")
    for signature, kind in _SIGNATURES:
        if body.startswith(signature):
            return binary_marker(len(body), kind)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # A body of exactly ``keep`` bytes was probably cut by the client: an incomplete
    # character at its end is the cut, not the receiver's fault, and is dropped.
    text = decoder.decode(body, final=len(body) < keep)
    unprintable = len(_UNPRINTABLE.findall(text))
    if unprintable > 2 and unprintable > len(text) * _BINARY_SHARE:
        return binary_marker(len(body))
    return text.replace("\x00", NUL_SYMBOL)


def storable_text(text: str) -> str:
    """``text`` with what PostgreSQL refuses replaced visibly: NUL and lone surrogates
    (which cannot be encoded as UTF-8, e.g. from a ``surrogateescape`` decode)."""
    if "\x00" in text:
        text = text.replace("\x00", NUL_SYMBOL)
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub(REPLACEMENT, text)
    return text
