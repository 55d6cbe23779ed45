"""Applications: ``/api/v1/app``."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.api.common import app_or_404, changes_of, page_response, pool_of
from services.ingest.models.applications import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPatch,
    CreateAppQuery,
)
from services.ingest.models.common import ListQuery, ListResponse, Ordering
from services.ingest.store import applications as store
from services.ingest.store.sql import Where, fetch_page
from shared.ids import has_prefix
from shared.operational import OPERATIONAL_APP_ID
from shared.web.errors import Conflict
from shared.web.responses import json_response
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Application"


def app_out(row: asyncpg.Record) -> ApplicationOut:
    return ApplicationOut.model_validate(dict(row))


@routes.get("/api/v1/app", query=ListQuery, response=ListResponse[ApplicationOut], tag=TAG)
async def list_applications(request: web.Request, query: ListQuery) -> ListResponse[ApplicationOut]:
    """List applications."""
    page = await fetch_page(
        pool_of(request),
        select=f"SELECT {store.COLUMNS} FROM application",
        where=Where().add("id <> {}", OPERATIONAL_APP_ID),
        key="id",
        limit=query.limit,
        iterator=query.iterator,
        descending=query.order == Ordering.descending,
    )
    return page_response(page, app_out)


@routes.post(
    "/api/v1/app",
    body=ApplicationIn,
    query=CreateAppQuery,
    response=ApplicationOut,
    status=201,
    tag=TAG,
    also=(200,),
    headers=["idempotency-key"],
)
async def create_application(
    request: web.Request, body: ApplicationIn, query: CreateAppQuery
) -> web.StreamResponse | ApplicationOut:
    """Create an application (``get_if_exists=true`` returns an existing one with that uid)."""
    pool = pool_of(request)
    if query.get_if_exists and body.uid:
        existing = await store.get(pool, body.uid)
        if existing is not None:
            return json_response(app_out(existing), 200)
    try:
        row = await store.insert(pool, body.model_dump())
    except asyncpg.UniqueViolationError as exc:
        if query.get_if_exists and body.uid:  # lost a race with an identical create
            existing = await store.get(pool, body.uid)
            if existing is not None:
                return app_out(existing)
        raise Conflict("An application with this uid already exists") from exc
    return app_out(row)


@routes.get("/api/v1/app/{app_id}", response=ApplicationOut, tag=TAG)
async def get_application(request: web.Request) -> ApplicationOut:
    """Get an application by id or uid."""
    return app_out(await app_or_404(request))


async def _save(request: web.Request, changes: dict) -> ApplicationOut:
    app = await app_or_404(request)
    try:
        return app_out(await store.update(pool_of(request), app["id"], changes))
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("An application with this uid already exists") from exc


@routes.put("/api/v1/app/{app_id}", body=ApplicationIn, response=ApplicationOut, tag=TAG, also=(201,))
async def update_application(request: web.Request, body: ApplicationIn) -> web.StreamResponse:
    """Create or update an application (Svix's upsert)."""
    pool = pool_of(request)
    ref = request.match_info["app_id"]
    app = await store.get(pool, ref)
    values = body.model_dump()
    # The path names the app's uid unless it is an app id; a body uid wins.
    values["uid"] = values.get("uid") or (app["uid"] if has_prefix(ref, "app") and app else ref)
    if app is None:
        try:
            return json_response(app_out(await store.insert(pool, values)), 201)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("An application with this uid already exists") from exc
    return json_response(await _save(request, values), 200)


@routes.patch("/api/v1/app/{app_id}", body=ApplicationPatch, response=ApplicationOut, tag=TAG)
async def patch_application(request: web.Request, body: ApplicationPatch) -> ApplicationOut:
    """Change the fields sent; ``null`` clears a nullable field."""
    return await _save(request, changes_of(body, not_null={"name", "metadata"}))


@routes.delete("/api/v1/app/{app_id}", tag=TAG)
async def delete_application(request: web.Request) -> None:
    """Delete an application with its endpoints and messages."""
    app = await app_or_404(request)
    await store.delete(pool_of(request), app["id"])
