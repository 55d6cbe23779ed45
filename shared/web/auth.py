"""Bearer-token authentication, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web

from shared.web.errors import Unauthorized, error_response


def bearer_auth_middleware(token: str, is_public: Callable[[web.Request], bool]):  # type: ignore[no-untyped-def]
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if is_public(request):
            return await handler(request)
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip().encode(), expected):
            return error_response(Unauthorized("Invalid or missing bearer token"))
        return await handler(request)

    return middleware
