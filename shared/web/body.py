"""Reading a request body with a size cap that holds before anything is buffered.

aiohttp's ``request.read()`` accumulates up to ``client_max_size`` into one growing
buffer even when the declared Content-Length already says the body is too large, and
how much memory that growth touches depends on the allocator's mood. Here a declared
length over the cap is refused before a byte is read, and a streamed (chunked) body
is kept as a list of pieces joined once, only if it fits.
"""

from __future__ import annotations

from aiohttp import web

_CHUNK = 64 * 1024


class BodyTooLarge(ValueError):
    """The request body is larger than the cap (nothing beyond the cap was kept)."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body bytes, or ``BodyTooLarge`` as soon as they exceed ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body of {request.content_length} bytes is over {limit} bytes")
    pieces: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        pieces.append(chunk)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
