"""Reading a request body with a size cap that holds before anything is buffered.

aiohttp's ``request.read()`` accumulates up to ``client_max_size`` into one growing
buffer even when the declared Content-Length already says the body is too large, and
how much memory that growth touches depends on the allocator's mood. Here a declared
length over the cap is refused before a byte is read, and a streamed (chunked) body
is kept as a list of pieces joined once, only if it fits.

The whole body also has a deadline. aiohttp closes a connection whose request head does
not arrive within its keep-alive timeout, but once the handler runs, a client that sends
the body a byte at a time would hold the connection (and a file descriptor) for as long
as it likes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

_CHUNK = 64 * 1024

# Seconds a client has to send a whole request body; an application sets its own.
BODY_READ_SECONDS = web.AppKey("body_read_seconds", float)
DEFAULT_BODY_READ_SECONDS = 30.0


class BodyTooLarge(ValueError):
    """The request body is larger than the cap (nothing beyond the cap was kept)."""


class BodyTimedOut(ValueError):
    """The client did not send the whole body before the deadline."""


async def read_body(
    request: web.Request, limit: int, on_piece: Callable[[bytes], None] | None = None
) -> bytes:
    """The raw body bytes; ``BodyTooLarge`` as soon as they exceed ``limit``,
    ``BodyTimedOut`` when they take longer than the application's ``BODY_READ_SECONDS``.
    ``on_piece`` sees each piece as it arrives (a signature computed while streaming)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body of {request.content_length} bytes is over {limit} bytes")
    pieces: list[bytes] = []
    size = 0
    seconds = request.config_dict.get(BODY_READ_SECONDS, DEFAULT_BODY_READ_SECONDS)
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"the body is over {limit} bytes")
                if on_piece is not None:
                    on_piece(chunk)
                pieces.append(chunk)
    except TimeoutError:
        raise BodyTimedOut(f"the body did not arrive within {seconds:g} s ({size} bytes came)") from None
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
