"""``idempotency-key`` for every POST route: the same key on the same path gets the
first response back. Message creation stores its response in its own transaction
(cheaper: no extra round trips); this middleware covers the other POST routes."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.ingest.keys import POOL
from services.ingest.store import idempotency
from shared.web.errors import Conflict, error_response
from shared.web.routes import ApiRoutes

_WAIT_FOR_FIRST = 5.0  # seconds a duplicate waits for the first request to finish


def _replay(status: int, body: bytes) -> web.Response:
    return web.Response(body=body or None, status=status, content_type="application/json")


@web.middleware
async def idempotency_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    key = request.headers.get("idempotency-key")
    spec = ApiRoutes.spec_of(request)
    if request.method != "POST" or not key or spec is None or spec.own_idempotency:
        return await handler(request)
    pool = request.app[POOL]
    scope = f"POST {request.path}"
    if not await idempotency.claim(pool, scope, key):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WAIT_FOR_FIRST
        while loop.time() < deadline:
            row = await idempotency.lookup(pool, scope, key)
            if row is None:  # the first request failed and released the key: go ahead
                if await idempotency.claim(pool, scope, key):
                    break
            elif row["state"] == "done":
                return _replay(row["status_code"], bytes(row["body"] or b""))
            await asyncio.sleep(0.05)
        else:
            return error_response(Conflict("A request with this idempotency key is still in progress"))
    try:
        response = await handler(request)
    except BaseException:
        await idempotency.release(pool, scope, key)
        raise
    # Server errors are not remembered, so a retry with the same key can succeed.
    if response.status >= 500 or not isinstance(response, web.Response):
        await idempotency.release(pool, scope, key)
    else:
        await idempotency.complete(pool, scope, key, response.status, response.body or b"")
    return response
