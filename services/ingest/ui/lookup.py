"""Resolving the application, endpoint or message a dashboard path names (id or uid),
as decorators: a handler receives the rows, a path naming nothing gets a 404 page."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from services.ingest.keys import POOL
from services.ingest.store import applications as app_store
from services.ingest.store import endpoints as endpoint_store
from services.ingest.store import messages as message_store
from services.ingest.ui.render import not_found

Response = Awaitable[web.StreamResponse]
Handler = Callable[[web.Request], Response]


async def _app(request: web.Request) -> asyncpg.Record | None:
    return await app_store.get(request.app[POOL], request.match_info["app_id"])


def with_app(handler: Callable[[web.Request, asyncpg.Record], Response]) -> Handler:
    @functools.wraps(handler)
    async def resolved(request: web.Request) -> web.StreamResponse:
        app = await _app(request)
        if app is None:
            return not_found(request, "This application")
        return await handler(request, app)

    return resolved


ChildHandler = Callable[[web.Request, asyncpg.Record, asyncpg.Record], Response]
FindChild = Callable[[web.Request, asyncpg.Record], Awaitable[asyncpg.Record | None]]


def _with_child(find: FindChild, what: str) -> Callable[[ChildHandler], Handler]:
    def decorate(handler: ChildHandler) -> Handler:
        @functools.wraps(handler)
        async def resolved(request: web.Request) -> web.StreamResponse:
            app = await _app(request)
            child = None if app is None else await find(request, app)
            if app is None or child is None:
                return not_found(request, what)
            return await handler(request, app, child)

        return resolved

    return decorate


async def _endpoint(request: web.Request, app: asyncpg.Record) -> asyncpg.Record | None:
    return await endpoint_store.get(request.app[POOL], app["id"], request.match_info["endpoint_id"])


async def _message(request: web.Request, app: asyncpg.Record) -> asyncpg.Record | None:
    return await message_store.get_message(request.app[POOL], app["id"], request.match_info["msg_id"])


with_endpoint = _with_child(_endpoint, "This endpoint")
with_message = _with_child(_message, "This message")


def endpoint_path(endpoint: asyncpg.Record, suffix: str = "") -> str:
    return f"/ui/apps/{endpoint['app_id']}/endpoints/{endpoint['id']}{suffix}"
