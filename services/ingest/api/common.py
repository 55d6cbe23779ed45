"""Helpers every resource module uses: resolving path ids, PATCH changes, list pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from pydantic import BaseModel

from services.ingest.keys import POOL
from services.ingest.models.common import ListResponse
from services.ingest.store import applications as app_store
from services.ingest.store import endpoints as endpoint_store
from services.ingest.store import messages as message_store
from services.ingest.store.sql import Page
from shared.operational import is_operational
from shared.web.errors import NotFound

T = TypeVar("T")


def pool_of(request: web.Request) -> asyncpg.Pool:
    return request.app[POOL]


async def app_or_404(request: web.Request) -> asyncpg.Record:
    app = await app_store.get(pool_of(request), request.match_info["app_id"])
    # The operational webhooks' application has its own routes (api/operational_webhooks.py).
    if app is None or is_operational(app["id"]):
        raise NotFound("Application not found")
    return app


async def endpoint_or_404(request: web.Request) -> asyncpg.Record:
    app = await app_or_404(request)
    endpoint = await endpoint_store.get(pool_of(request), app["id"], request.match_info["endpoint_id"])
    if endpoint is None:
        raise NotFound("Endpoint not found")
    return endpoint


async def message_or_404(request: web.Request, app_id: str) -> asyncpg.Record:
    """The message named in the path (by id or eventId) within the app."""
    msg = await message_store.get_message(pool_of(request), app_id, request.match_info["msg_id"])
    if msg is None:
        raise NotFound("Message not found")
    return msg


def changes_of(body: BaseModel, *, not_null: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    """The fields a PATCH body set; a null for a field that can't be null is ignored."""
    data = body.model_dump(include=body.model_fields_set)
    return {k: v for k, v in data.items() if v is not None or k not in not_null}


def page_response(page: Page, convert: Callable[[asyncpg.Record], T]) -> ListResponse[T]:
    return ListResponse[Any](
        data=[convert(row) for row in page.rows],
        iterator=page.iterator,
        prev_iterator=page.prev_iterator,
        done=page.done,
    )
