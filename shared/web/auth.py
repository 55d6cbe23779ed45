"""Bearer-token authentication, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr

from shared.web.errors import Unauthorized, error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_matches(request: web.Request, expected: bytes) -> bool:
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), expected)


def _refused() -> web.Response:
    response = error_response(Unauthorized("Invalid or missing bearer token"))
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def bearer_auth_middleware(token: str, is_public: Callable[[web.Request], bool]):  # type: ignore[no-untyped-def]
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if is_public(request):
            return await handler(request)
        if not bearer_matches(request, expected):
            return error_response(Unauthorized("Invalid or missing bearer token"))
        return await handler(request)

    return middleware


def token_required(handler: Handler, token: SecretStr | None) -> Handler:
    """``handler`` behind its own bearer token (``HOOKLINE_METRICS_TOKEN`` for
    ``/metrics``); with no token it is returned as it is, open to anyone."""
    if token is None:
        return handler
    expected = token.get_secret_value().encode()

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not bearer_matches(request, expected):
            return _refused()
        return await handler(request)

    return guarded
